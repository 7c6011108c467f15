/*
 * tokenizer_int.h - what the two halves of the SentencePiece shim share
 * (tokenizer.cc: load, encode, decode; tokenizer_train.cc: training).  C++.
 */
#ifndef MF_TOKENIZER_INT_H
#define MF_TOKENIZER_INT_H

#include <cstdio>
#include <string>

/* Copy a message into err. */
inline void
mf_tokenizer_set_err(char *err, size_t errlen, const std::string &msg)
{
	if (err != nullptr && errlen > 0)
		std::snprintf(err, errlen, "%s", msg.c_str());
}

#endif							/* MF_TOKENIZER_INT_H */
