/* fp32 GEMM dispatch (OpenBLAS, row-major): C = alpha * op(A) op(B) + beta * C,
 * op(A) is MxK, op(B) is KxN. trans_a / trans_b: 1 means the stored matrix is transposed. */
#ifndef MVLA_GEMM_H
#define MVLA_GEMM_H

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
          int ldb, float beta, float *C, int ldc);

#endif
