/*
 * tokenizer.cc - the C shim over SentencePiece (see tokenizer.h).
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

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

struct MfTokenizer
{
	sentencepiece::SentencePieceProcessor sp;
};

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

/* Copy a message into err. */
void
SetErr(char *err, size_t errlen, const std::string &msg)
{
	if (err != nullptr && errlen > 0)
		std::snprintf(err, errlen, "%s", msg.c_str());
}

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
		SetErr(err, errlen, "tokenizer training needs at least one line and vocab_size >= 8");
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
			SetErr(err, errlen, std::string("tokenizer training failed: ") + st.ToString());
			return -1;
		}
		*model = static_cast<unsigned char *>(std::malloc(out.size() ? out.size() : 1));
		if (*model == nullptr)
		{
			SetErr(err, errlen, "out of memory");
			return -1;
		}
		std::memcpy(*model, out.data(), out.size());
		*model_len = out.size();
		return 0;
	}
	catch (const std::exception &e)
	{
		SetErr(err, errlen, std::string("tokenizer training failed: ") + e.what());
		return -1;
	}
}

/* Load serialized bytes. */
extern "C" MfTokenizer *
mf_tokenizer_load(const void *model, size_t len, char *err, size_t errlen)
{
	try
	{
		MfTokenizer *tok = new MfTokenizer;
		auto		st = tok->sp.LoadFromSerializedProto(
			std::string(static_cast<const char *>(model), len));

		if (!st.ok())
		{
			SetErr(err, errlen, std::string("invalid tokenizer model: ") + st.ToString());
			delete tok;
			return nullptr;
		}
		return tok;
	}
	catch (const std::exception &e)
	{
		SetErr(err, errlen, std::string("invalid tokenizer model: ") + e.what());
		return nullptr;
	}
}

/* Free a loaded tokenizer. */
extern "C" void
mf_tokenizer_free(MfTokenizer *tok)
{
	delete tok;
}

/* Pieces of the model. */
extern "C" int
mf_tokenizer_size(const MfTokenizer *tok)
{
	return tok->sp.GetPieceSize();
}

/* Id of the begin-of-sequence piece. */
extern "C" int
mf_tokenizer_bos(const MfTokenizer *tok)
{
	return tok->sp.bos_id();
}

/* Id of the end-of-sequence piece. */
extern "C" int
mf_tokenizer_eos(const MfTokenizer *tok)
{
	return tok->sp.eos_id();
}

/* Encode text into ids. */
extern "C" int
mf_tokenizer_encode(const MfTokenizer *tok, const char *text, size_t len,
					int32_t *ids, size_t cap, size_t *n, char *err,
					size_t errlen)
{
	try
	{
		std::vector<int> v;
		auto		st = tok->sp.Encode(std::string(text, len), &v);
		size_t		i;

		*n = 0;
		if (!st.ok())
		{
			SetErr(err, errlen, std::string("tokenizer encode failed: ") + st.ToString());
			return -1;
		}
		*n = v.size();
		for (i = 0; i < v.size() && i < cap; i++)
			ids[i] = v[i];
		return 0;
	}
	catch (const std::exception &e)
	{
		SetErr(err, errlen, std::string("tokenizer encode failed: ") + e.what());
		return -1;
	}
}

/* Decode ids into malloc'd text. */
extern "C" char *
mf_tokenizer_decode(const MfTokenizer *tok, const int32_t *ids, size_t n,
					char *err, size_t errlen)
{
	try
	{
		std::vector<int> v(ids, ids + n);
		std::string out;
		size_t		i;
		char	   *s;

		for (i = 0; i < n; i++)
			if (ids[i] < 0 || ids[i] >= tok->sp.GetPieceSize())
			{
				SetErr(err, errlen, "tokenizer decode: id out of range");
				return nullptr;
			}
		auto		st = tok->sp.Decode(v, &out);

		if (!st.ok())
		{
			SetErr(err, errlen, std::string("tokenizer decode failed: ") + st.ToString());
			return nullptr;
		}
		s = static_cast<char *>(std::malloc(out.size() + 1));
		if (s == nullptr)
		{
			SetErr(err, errlen, "out of memory");
			return nullptr;
		}
		std::memcpy(s, out.data(), out.size());
		s[out.size()] = '\0';
		return s;
	}
	catch (const std::exception &e)
	{
		SetErr(err, errlen, std::string("tokenizer decode failed: ") + e.what());
		return nullptr;
	}
}
