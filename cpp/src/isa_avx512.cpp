// The core compiled for the avx512 instruction set (flags set per file in CMakeLists.txt).
#define LEDKDE_ISA avx512
#define LEDKDE_STR_(x) #x
#define LEDKDE_STR(x) LEDKDE_STR_(x)
#include "isa_table.inc"
