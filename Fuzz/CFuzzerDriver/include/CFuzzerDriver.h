#ifndef TINYFLOW_CFUZZERDRIVER_H
#define TINYFLOW_CFUZZERDRIVER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that have their own `main` (LLVM 13 and later):
/// parses libFuzzer's flags from `argv` and fuzzes `callback`. Only linked when the fuzz
/// targets are built with `-sanitize=fuzzer` (scripts/fuzz.sh); declared here so the
/// Swift side can call it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
