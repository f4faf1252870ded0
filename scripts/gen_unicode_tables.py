#!/usr/bin/python3
"""Generates src/models/unicode_tables_gen.c: the Unicode facts CLIP's tokenizer needs, as compact range tables.

Run with Debian's /usr/bin/python3 (its unicodedata is the source of truth; Unicode version below):
    /usr/bin/python3 scripts/gen_unicode_tables.py > src/models/unicode_tables_gen.c

What the tables describe (all taken from this Python, so that the C code behaves like CLIP's
SimpleTokenizer running on it):
  * UC_LETTER / UC_NUMBER: general category L* / N* (the pre-tokenizer's \\p{L} and \\p{N}).
  * UC_WHITE_SPACE: Unicode White_Space, which is what `\\s` means in the `regex` module
    (whitespace_clean's `\\s+`). Not exposed by unicodedata; it is the fixed 25-code-point list below.
  * UC_PY_SPACE: str.isspace(), which is what str.strip() removes (White_Space plus U+001C..U+001F).
  * UC_CASED / UC_CASE_IGNORABLE: the two properties CPython's str.lower() consults for Greek final
    sigma. unicodedata does not expose them, so they are measured from str.lower() itself (see
    final_sigma_props); UC_CASED is only meaningful where UC_CASE_IGNORABLE is clear, which is the
    only place lower() looks at it.
  * the lowercase mapping: chr(c).lower() for every code point but U+03A3 (context dependent, done
    in C), as runs of equal offset (stride 1 or 2) plus the few one-to-many mappings.
The script checks its own tables against Python for every code point before printing them.
"""
import sys
import unicodedata

MAX_CP = 0x110000
LETTER, NUMBER, WHITE_SPACE, PY_SPACE, CASED, CASE_IGNORABLE = 1, 2, 4, 8, 16, 32
# Unicode White_Space (PropList.txt); stable since Unicode 6.3.
WHITE_SPACE_CPS = [0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
                   0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
SIGMA, SMALL_SIGMA, FINAL_SIGMA = "\u03a3", "\u03c3", "\u03c2"


def final_sigma_props(ch):
    """(case_ignorable, cased) of ch, measured from CPython's final-sigma rule in str.lower():
    sigma is final when preceded by a cased letter (skipping case-ignorables) and not followed by one.
      ch+S -> final  iff  not ignorable and cased
      A+ch+S -> final iff ignorable or cased
      A+S+ch -> final iff ignorable or not cased"""
    x1 = (ch + SIGMA).lower().endswith(FINAL_SIGMA)
    x2 = ("A" + ch + SIGMA).lower().endswith(FINAL_SIGMA)
    x3 = ("A" + SIGMA + ch).lower()[1] == FINAL_SIGMA
    ignorable = x2 and x3 and not x1
    cased = x1 or (x2 and not x3)
    return ignorable, cased and not ignorable


def props(cp):
    ch = chr(cp)
    cat = unicodedata.category(ch)
    f = 0
    if cat.startswith("L"):
        f |= LETTER
    if cat.startswith("N"):
        f |= NUMBER
    if cp in WHITE_SPACE_SET:
        f |= WHITE_SPACE
    if ch.isspace():
        f |= PY_SPACE
    if cp == 0x3A3:
        f |= CASED
    elif cat != "Cs":
        ignorable, cased = final_sigma_props(ch)
        f |= (CASE_IGNORABLE if ignorable else 0) | (CASED if cased else 0)
    return f


WHITE_SPACE_SET = set(WHITE_SPACE_CPS)


def prop_ranges():
    ranges = []  # [lo, hi, flags], flags != 0, adjacent ranges differ
    for cp in range(MAX_CP):
        f = props(cp)
        if f == 0:
            continue
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == f:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, f])
    return ranges


def lower_tables():
    single = {}  # cp -> lower cp (one-to-one, changed)
    multi = []   # (cp, [cps])
    for cp in range(MAX_CP):
        if cp == 0x3A3:
            continue
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            single[cp] = ord(low)
        else:
            multi.append((cp, [ord(c) for c in low]))
    runs = []  # [lo, hi, delta, step]
    for cp in sorted(single):
        d = single[cp] - cp
        if runs:
            r = runs[-1]
            step = r[3] if r[1] > r[0] else cp - r[1]
            # Stride-2 runs may only skip unmapped code points, so that runs never overlap.
            skip_ok = step == 1 or (step == 2 and (cp - 1) not in single)
            if d == r[2] and step in (1, 2) and cp - r[1] == step and skip_ok:
                r[1], r[3] = cp, step
                continue
        runs.append([cp, cp, d, 1])
    return runs, multi


def check(ranges, runs, multi):
    flags = [0] * MAX_CP
    for lo, hi, f in ranges:
        for cp in range(lo, hi + 1):
            flags[cp] = f
    for cp in range(MAX_CP):
        assert flags[cp] == props(cp), hex(cp)
    lowered = {}
    for lo, hi, d, step in runs:
        for cp in range(lo, hi + 1, step):
            assert cp not in lowered
            lowered[cp] = chr(cp + d)
    for cp, cps in multi:
        lowered[cp] = "".join(map(chr, cps))
    for cp in range(MAX_CP):
        if cp != 0x3A3:
            assert lowered.get(cp, chr(cp)) == chr(cp).lower(), hex(cp)
    # The C code looks a run up by binary search on lo: runs must be sorted and disjoint.
    for a, b in zip(runs, runs[1:]):
        assert a[1] < b[0]
    for a, b in zip(ranges, ranges[1:]):
        assert a[1] < b[0]


def main():
    ranges = prop_ranges()
    runs, multi = lower_tables()
    check(ranges, runs, multi)
    out = sys.stdout
    out.write("/* GENERATED by scripts/gen_unicode_tables.py from Python %s's unicodedata (Unicode %s).\n"
              " * Do not edit: re-run the script. What each table means: src/models/unicode_tables.h. */\n"
              % (sys.version.split()[0], unicodedata.unidata_version))
    out.write('#include "models/unicode_tables.h"\n\n')
    out.write('const char uc_unicode_version[] = "%s";\n\n' % unicodedata.unidata_version)
    out.write("/* UC_* flags of the ASCII code points (a fast path; same facts as uc_prop_ranges). */\n")
    out.write("const uint8_t uc_ascii_flags[128] = {\n")
    for i in range(0, 128, 16):
        out.write("   " + "".join(" %d," % props(cp) for cp in range(i, i + 16)) + "\n")
    out.write("};\n\n")
    out.write("/* {first, last, UC_* flags}: sorted, disjoint; code points not listed have no flag. */\n")
    out.write("const UcPropRange uc_prop_ranges[] = {\n")
    for i in range(0, len(ranges), 4):
        out.write("   " + "".join(" {0x%X, 0x%X, %d}," % tuple(r) for r in ranges[i:i + 4]) + "\n")
    out.write("};\nconst int uc_prop_range_count = %d;\n\n" % len(ranges))
    out.write("/* {first, last, offset, stride}: every stride-th code point from first to last lowers to itself +\n"
              " * offset. Sorted, disjoint. U+03A3 (context dependent) and one-to-many mappings are not here. */\n")
    out.write("const UcLowerRun uc_lower_runs[] = {\n")
    for i in range(0, len(runs), 4):
        out.write("   " + "".join(" {0x%X, 0x%X, %d, %d}," % tuple(r) for r in runs[i:i + 4]) + "\n")
    out.write("};\nconst int uc_lower_run_count = %d;\n\n" % len(runs))
    out.write("/* One-to-many lowercase mappings: {code point, count, {code points}}. */\n")
    out.write("const UcLowerMulti uc_lower_multi[] = {\n")
    for cp, cps in multi:
        assert len(cps) <= 3
        out.write("    {0x%X, %d, {%s}},\n" % (cp, len(cps), ", ".join("0x%X" % c for c in cps)))
    out.write("};\nconst int uc_lower_multi_count = %d;\n" % len(multi))


if __name__ == "__main__":
    main()
