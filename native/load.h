/* Element i of a native kernel's input as float64 (exact for every input dtype). */
#ifndef MEAN_FUSION_LOAD_H
#define MEAN_FUSION_LOAD_H

#include <stdint.h>

#include "kernel.h"

static inline double load(const mf_input *x, size_t i) {
  switch (x->dtype) {
    case MF_F64: return ((const double *)x->data)[i];
    case MF_F32: return ((const float *)x->data)[i];
    case MF_I8: return ((const int8_t *)x->data)[i];
    case MF_U8: return ((const uint8_t *)x->data)[i];
    case MF_I16: return ((const int16_t *)x->data)[i];
    case MF_U16: return ((const uint16_t *)x->data)[i];
    case MF_I32: return ((const int32_t *)x->data)[i];
    default: return ((const uint32_t *)x->data)[i];
  }
}

#endif
