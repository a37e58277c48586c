/*
 * codec.h - how blob content is compressed: the codecs, their levels and
 * the text that names them ("compression" in mailkeep.conf, archive-fill
 * -z).  Apart from mkconfig.c so that a program that names a codec needs
 * no INI parser.
 */
#ifndef MAILKEEP_CODEC_H
#define MAILKEEP_CODEC_H

#include <stddef.h>

/* How blob content is compressed; the values are byte 7 of a blob's
 * header (docs/FORMAT.md, 2). */
typedef enum { MK_CODEC_NONE = 0, MK_CODEC_ZLIB = 1, MK_CODEC_ZSTD = 2 } mk_codec;
#define MK_ZSTD_MIN_LEVEL	(-5)	/* zstd's fast levels, ... */
#define MK_ZSTD_MAX_LEVEL	19	/* ... to the last that is not "ultra" */
#define MK_DEFAULT_CODEC	MK_CODEC_ZSTD
#define MK_DEFAULT_LEVEL	1	/* docs/PERFORMANCE.md, "zstd" */

/* mk_compression_parse - a value of "compression" (mailkeep.conf(5)):
 * none, zstd, zstd:LEVEL, zlib, zlib:LEVEL, or 0-9 (a zlib level, 0
 * none, as before zstd).  0, or -1 with the reason (naming the allowed
 * values) in why */
int mk_compression_parse(const char *value, mk_codec *codec, int *level,
			 char *why, size_t why_len);

#endif /* MAILKEEP_CODEC_H */
