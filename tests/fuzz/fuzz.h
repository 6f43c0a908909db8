/* Every harness defines this (libFuzzer's entry point). */
#ifndef DSB_TESTS_FUZZ_H
#define DSB_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
