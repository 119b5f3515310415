// Umbrella header of the CQATKitKernels module.
#include "qatkit_int8.h"
#include "qatkit_stream.h"
