/*
 * tokenizer.cc - the C shim over SentencePiece (see tokenizer.h): loading a
 * serialized model, encoding and decoding.  Training is tokenizer_train.cc,
 * a separate object: it alone needs libsentencepiece_train (1.5 MB), which
 * mf-serve and its images therefore do not load.
 */
#include "tokenizer.h"
#include "tokenizer_int.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

struct MfTokenizer
{
	sentencepiece::SentencePieceProcessor sp;
};

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
			mf_tokenizer_set_err(err, errlen, std::string("invalid tokenizer model: ") + st.ToString());
			delete tok;
			return nullptr;
		}
		return tok;
	}
	catch (const std::exception &e)
	{
		mf_tokenizer_set_err(err, errlen, std::string("invalid tokenizer model: ") + e.what());
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

/* Whether generation skips id: the unknown piece, unused ones, control pieces but eos. */
extern "C" int
mf_tokenizer_never_generated(const MfTokenizer *tok, int id)
{
	return tok->sp.IsUnknown(id) || tok->sp.IsUnused(id) ||
		(tok->sp.IsControl(id) && id != tok->sp.eos_id());
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
			mf_tokenizer_set_err(err, errlen, std::string("tokenizer encode failed: ") + st.ToString());
			return -1;
		}
		*n = v.size();
		for (i = 0; i < v.size() && i < cap; i++)
			ids[i] = v[i];
		return 0;
	}
	catch (const std::exception &e)
	{
		mf_tokenizer_set_err(err, errlen, std::string("tokenizer encode failed: ") + e.what());
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
				mf_tokenizer_set_err(err, errlen, "tokenizer decode: id out of range");
				return nullptr;
			}
		auto		st = tok->sp.Decode(v, &out);

		if (!st.ok())
		{
			mf_tokenizer_set_err(err, errlen, std::string("tokenizer decode failed: ") + st.ToString());
			return nullptr;
		}
		s = static_cast<char *>(std::malloc(out.size() + 1));
		if (s == nullptr)
		{
			mf_tokenizer_set_err(err, errlen, "out of memory");
			return nullptr;
		}
		std::memcpy(s, out.data(), out.size());
		s[out.size()] = '\0';
		return s;
	}
	catch (const std::exception &e)
	{
		mf_tokenizer_set_err(err, errlen, std::string("tokenizer decode failed: ") + e.what());
		return nullptr;
	}
}
