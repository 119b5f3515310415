// Umbrella header of the CQATKitKernels module.
#include "qatkit_int8.h"
#include "qatkit_stream.h"
#include "qatkit_w4.h"
