// libFuzzer's driver, declared for Swift (https://llvm.org/docs/LibFuzzer.html#using-libfuzzer-as-a-library). It is
// defined by the libFuzzer runtime that `-sanitize=fuzzer` links; castbridge-fuzz calls it only in a fuzz build.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
