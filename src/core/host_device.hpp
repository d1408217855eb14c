#pragma once
// Marks inline functions that both backends compile: plain host code for g++, __host__ __device__
// under nvcc.
#if defined(__CUDACC__)
#define HPCT_HD __host__ __device__ __forceinline__
#else
#define HPCT_HD inline
#endif
