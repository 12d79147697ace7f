#!/usr/bin/env bash
# The C door under memory checkers (not part of the test command: slow).
#
#   bash tests/sanitize.sh            # valgrind + ASan/UBSan (+ Rust ASan if nightly)
#   FUZZ_CASES=2000 bash tests/sanitize.sh
#
# 1. valgrind memcheck on tests/c/test_infocus.c linked to the release
#    libinfocus.so: invalid reads/writes, uses of uninitialised values and
#    definite leaks are errors (--error-exitcode).
# 2. valgrind memcheck on the Rust C-ABI fuzz harness (tests/fuzz_c_abi.rs:
#    the bad-input matrix and FUZZ_CASES random calls through the exported
#    functions), which checks the library's own code, not only the copies.
# 3. The C program built with gcc's AddressSanitizer and UBSan.
# 4. If a nightly toolchain is installed: the C-ABI fuzz harness and the
#    concurrency test with the Rust code itself instrumented by
#    AddressSanitizer (-Zsanitizer=address). Skipped, and said so, otherwise.
#
# Exits non-zero if any checker reports an error; prints one line per check.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${SANITIZE_DIR:-$ROOT/target/sanitize}
CASES=${FUZZ_CASES:-300}
mkdir -p "$OUT"
status=0
results=()

note() { results+=("$1"); echo "== $1"; }

cargo build --release --lib --quiet || { echo "cargo build failed"; exit 2; }
LIB=$ROOT/target/release
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -I "$ROOT/include")
LINK=(-L "$LIB" -linfocus "-Wl,-rpath,$LIB" -lm)

# 1. valgrind on the C program
if command -v valgrind >/dev/null; then
    cc "${CFLAGS[@]}" -O1 tests/c/test_infocus.c -o "$OUT/test_infocus" "${LINK[@]}"
    if valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --track-origins=yes --log-file="$OUT/valgrind_c.log" "$OUT/test_infocus" >"$OUT/c_stdout.log"; then
        note "valgrind memcheck, C program: clean ($(tail -1 "$OUT/c_stdout.log"))"
    else
        note "valgrind memcheck, C program: ERRORS (see $OUT/valgrind_c.log)"
        status=1
    fi
else
    note "valgrind memcheck: NOT RUN (no valgrind; apt-get install valgrind)"
fi

# 2. valgrind on the Rust fuzz harness of the C ABI
if command -v valgrind >/dev/null; then
    exe=$(cargo test --release --test fuzz_c_abi --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*fuzz_c_abi[^"]*\)".*/\1/p' | tail -1)
    if [ -n "$exe" ] && INFOCUS_FUZZ_CASES=$CASES valgrind --quiet --error-exitcode=99 \
        --leak-check=full --errors-for-leak-kinds=definite --log-file="$OUT/valgrind_fuzz.log" \
        "$exe" --test-threads 1 bad_input_matrix fuzz_c_abi >"$OUT/fuzz_stdout.log" 2>&1; then
        note "valgrind memcheck, C-ABI fuzz harness (matrix + $CASES random calls): clean"
    else
        note "valgrind memcheck, C-ABI fuzz harness: ERRORS (see $OUT/valgrind_fuzz.log, $OUT/fuzz_stdout.log)"
        status=1
    fi
fi

# 3. gcc AddressSanitizer + UBSan on the C program
if cc "${CFLAGS[@]}" -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
    -fno-sanitize-recover=all tests/c/test_infocus.c -o "$OUT/test_infocus_asan" "${LINK[@]}" 2>"$OUT/asan_build.log"; then
    if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$OUT/test_infocus_asan" \
        >"$OUT/asan_stdout.log" 2>"$OUT/asan.log"; then
        note "ASan+UBSan, C program: clean ($(tail -1 "$OUT/asan_stdout.log"))"
    else
        note "ASan+UBSan, C program: ERRORS (see $OUT/asan.log)"
        status=1
    fi
else
    note "ASan+UBSan: NOT RUN (this cc cannot build with sanitizers; see $OUT/asan_build.log)"
fi

# 4. Rust code instrumented with AddressSanitizer (nightly only)
if rustup run nightly rustc --version >/dev/null 2>&1; then
    host=$(rustc -vV | sed -n 's/^host: //p')
    if RUSTFLAGS="-Zsanitizer=address" INFOCUS_FUZZ_CASES=$CASES INFOCUS_CONCURRENCY_ROUNDS=2 \
        ASAN_OPTIONS=detect_leaks=0 cargo +nightly test --release --quiet --target "$host" \
        --target-dir "$ROOT/target/asan" --test fuzz_c_abi --test concurrency \
        >"$OUT/rust_asan.log" 2>&1; then
        note "Rust ASan (nightly), C-ABI fuzz harness + concurrency: clean"
    else
        note "Rust ASan (nightly): ERRORS or build failure (see $OUT/rust_asan.log)"
        status=1
    fi
else
    note "Rust ASan: NOT RUN (no nightly toolchain)"
fi

echo
printf '%s\n' "${results[@]}"
exit $status
