/* Runs a model compiled with `nnopt compile MODEL --emit c -o DIR` on the firmware
 * runtime: reads every input's raw bytes (in order, as `nnopt_tensor_info.size` says)
 * from stdin and writes every output's raw bytes to stdout. Uses no heap. */
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "nnopt.h"

/* The arena: activations and scratch, its size fixed at compile time. */
static uint8_t arena[NNOPT_MODEL_ARENA_SIZE] __attribute__((aligned(16)));

/* Room for the largest input and output, at most 16 of each. */
#define MAX_IO 16
#define MAX_BYTES (1u << 22)
static uint8_t io_bytes[2 * MAX_BYTES];

static int fail(const char *what, const struct nnopt_error *e) {
    fprintf(stderr, "run_model: %s: %.*s (code %d, #%lld)\n", what, (int)e->message_len,
            e->message, e->code, (long long)e->index);
    return 1;
}

int main(void) {
    struct nnopt_model model;
    struct nnopt_error err;
    if (nnopt_load(&model, nnopt_model_data, NNOPT_MODEL_SIZE, &err) != NNOPT_OK) {
        return fail("load", &err);
    }
    if (nnopt_arena_size(&model) != NNOPT_MODEL_ARENA_SIZE) {
        fprintf(stderr, "run_model: model.h and the runtime disagree on the arena size\n");
        return 1;
    }
    size_t n_in = nnopt_num_inputs(&model), n_out = nnopt_num_outputs(&model);
    if (n_in != NNOPT_MODEL_NUM_INPUTS || n_out != NNOPT_MODEL_NUM_OUTPUTS || n_in > MAX_IO ||
        n_out > MAX_IO) {
        fprintf(stderr, "run_model: unexpected number of inputs or outputs\n");
        return 1;
    }
    struct nnopt_buffer inputs[MAX_IO], outputs[MAX_IO];
    size_t used = 0;
    for (size_t k = 0; k < n_in + n_out; k++) {
        int is_out = k >= n_in;
        size_t i = is_out ? k - n_in : k;
        struct nnopt_tensor_info info;
        if (nnopt_tensor(&model, is_out, i, &info, &err) != NNOPT_OK) {
            return fail("tensor", &err);
        }
        if (info.size > sizeof io_bytes - used) {
            fprintf(stderr, "run_model: inputs and outputs exceed %u bytes\n", 2 * MAX_BYTES);
            return 1;
        }
        struct nnopt_buffer b = {io_bytes + used, info.size};
        used += info.size;
        if (is_out) {
            outputs[i] = b;
        } else {
            inputs[i] = b;
            if (fread(b.data, 1, b.size, stdin) != b.size) {
                fprintf(stderr, "run_model: input %zu needs %zu bytes on stdin\n", i, b.size);
                return 1;
            }
        }
    }
    if (nnopt_run(&model, arena, sizeof arena, inputs, n_in, outputs, n_out, &err) != NNOPT_OK) {
        return fail("run", &err);
    }
    for (size_t i = 0; i < n_out; i++) {
        if (fwrite(outputs[i].data, 1, outputs[i].size, stdout) != outputs[i].size) {
            return 1;
        }
    }
    return fflush(stdout) != 0;
}
