#!/bin/bash
# gen-text.sh - a generated text/plain message of a given size, the same
# bytes every time, for the benchmarks (store-bench.sh, verify-bench.sh,
# run.sh with BENCH_BODY=text).
#
# SYNOPSIS
#	bench/gen-text.sh SIZE OUT [WORKDIR]
#
# DESCRIPTION
#	Writes to OUT a message of SIZE bytes (headers included, LF line
#	ends) whose body is English-like text: words drawn by a Park-Miller
#	generator, skewed towards the frequent ones, from the vocabulary of
#	/usr/share/common-licenses (or, without it, of Python's e-mail test
#	messages).  zlib level 6 keeps about 0.35 of it, as for ordinary
#	prose.  The vocabulary is cached in WORKDIR/vocab.txt (default: the
#	directory of OUT).
set -eu
size=$1 out=$2 work=${3:-$(dirname "$2")}
vocab=$work/vocab.txt

if [ ! -s "$vocab" ]; then
	if [ -d /usr/share/common-licenses ]; then
		cat /usr/share/common-licenses/*
	else
		cat /usr/lib/python3*/test/test_email/data/msg_*.txt
	fi | tr -cs 'A-Za-z' '\n' | awk 'length($0) > 1' |
	    LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2 |
	    awk '{ print $2 }' > "$vocab"
fi
{
	printf 'From: Bench Sender <sender@example.com>\n'
	printf 'To: Bench Recipient <rcpt@example.org>\n'
	printf 'Subject: generated text message of %s bytes\n' "$size"
	printf 'Date: Mon, 23 Nov 2026 10:00:00 +0000\n'
	printf 'Message-ID: <bench-%s@example.com>\n' "$size"
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\n'
} > "$out"
body=$((size - $(wc -c < "$out")))
awk -v size="$body" '
    { w[n++] = $1 }
    END {
	x = 20261123; out = 0; line = ""
	while (out < size) {
		x = (x * 16807) % 2147483647
		r = x / 2147483647
		word = w[int(n * r * r * r)]
		if (line != "" && length(line) + length(word) + 1 > 72) {
			print line; out += length(line) + 1; line = word
		} else
			line = (line == "" ? word : line " " word)
	}
    }' "$vocab" | head -c $((body - 1)) >> "$out"
printf '\n' >> "$out"
