/*
 * tokenizer_train.cc - training of the SentencePiece shim (see tokenizer.h),
 * its own object so that only what trains (mf_core, some unit tests) links
 * libsentencepiece_train; mf-serve links tokenizer.cc alone.
 *
 * Design note: training reads the caller's lines through a
 * SentenceIterator (no temporary files) and returns the serialized model
 * proto; options: the model kind, vocab_size as a soft limit, one thread,
 * character coverage 1.0 (every character of the corpus stays a piece,
 * so decode(encode(x)) == x for NFKC-normalised text), and
 * SetRandomGeneratorSeed(seed) before training (SentencePiece seeds its
 * sentence sampling from that global generator; the seed is truncated to
 * 32 bits and 0xFFFFFFFF, SentencePiece's "use random_device", is avoided).
 * The global seed makes training not thread-safe; callers train one
 * tokenizer at a time per process (a backend or a job worker does).
 */
#include "tokenizer.h"
#include "tokenizer_int.h"

#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>

namespace
{

/* The caller's lines as SentencePiece's sentence iterator. */
class LineIterator : public sentencepiece::SentenceIterator
{
  public:
	LineIterator(const char *const *lines, const size_t *lens, size_t n)
		: lines_(lines), lens_(lens), n_(n), i_(0)
	{
		Load();
	}
	bool done() const override { return i_ >= n_; }
	void Next() override
	{
		i_++;
		Load();
	}
	const std::string &value() const override { return cur_; }
	sentencepiece::util::Status status() const override
	{
		return sentencepiece::util::Status();
	}

  private:
	void Load()
	{
		if (i_ < n_)
			cur_.assign(lines_[i_], lens_[i_]);
	}
	const char *const *lines_;
	const size_t *lens_;
	size_t		n_;
	size_t		i_;
	std::string cur_;
};

}								/* namespace */

/* Train on lines; the serialized model. */
extern "C" int
mf_tokenizer_train(const char *const *lines, const size_t *lens, size_t n,
				   int vocab_size, MfTokenizerKind kind, uint64_t seed,
				   unsigned char **model, size_t *model_len, char *err,
				   size_t errlen)
{
	*model = nullptr;
	*model_len = 0;
	if (n == 0 || vocab_size < 8)
	{
		mf_tokenizer_set_err(err, errlen, "tokenizer training needs at least one line and vocab_size >= 8");
		return -1;
	}
	try
	{
		std::unordered_map<std::string, std::string> args = {
			{"model_type", kind == MF_TOKENIZER_BPE ? "bpe" : kind == MF_TOKENIZER_CHAR ? "char" : "unigram"},
			{"vocab_size", std::to_string(vocab_size)},
			{"hard_vocab_limit", "false"},
			{"num_threads", "1"},
			{"character_coverage", "1.0"},
			{"minloglevel", "2"},
		};
		LineIterator it(lines, lens, n);
		std::string out;
		unsigned int s = (unsigned int) (seed ^ (seed >> 32));

		sentencepiece::SetRandomGeneratorSeed(s == 0xFFFFFFFFu ? 0u : s);
		auto		st = sentencepiece::SentencePieceTrainer::Train(args, &it, &out);

		if (!st.ok())
		{
			mf_tokenizer_set_err(err, errlen, std::string("tokenizer training failed: ") + st.ToString());
			return -1;
		}
		*model = static_cast<unsigned char *>(std::malloc(out.size() ? out.size() : 1));
		if (*model == nullptr)
		{
			mf_tokenizer_set_err(err, errlen, "out of memory");
			return -1;
		}
		std::memcpy(*model, out.data(), out.size());
		*model_len = out.size();
		return 0;
	}
	catch (const std::exception &e)
	{
		mf_tokenizer_set_err(err, errlen, std::string("tokenizer training failed: ") + e.what());
		return -1;
	}
}
