# Sizes estimated before anything is allocated (issue 21): a batch, a width, a depth or a chunk count
# the machine cannot hold is refused in one line with the estimate and the available memory, exit code 2
# (each of these was killed for memory after 15-35 s). SCANLAB_MEMORY_LIMIT caps "available" at 8 GB, so
# no machine gets far enough to allocate.
# Usage: cmake -DSCANLAB=<binary> -DCONFIGS=<configs dir> -DDIR=<scratch dir> -P this
include(${CMAKE_CURRENT_LIST_DIR}/expect_error.cmake)
set(ENV{SCANLAB_MEMORY_LIMIT} 8000000000)
set(fits "needs about [0-9.]+ [KMGTPE]iB but [0-9.]+ [KMG]?i?B are available \\(MemAvailable\\); make it smaller")
expect_error("^scanlab: error: train: a transformer_psm of [0-9.]+e\\+05 parameters .* on batches of 100000000 x 32 tokens .*${fits}$"
             train --config ${CONFIGS}/mqar_cpu.toml --set train.batch_size=100000000 --set train.out_dir=${DIR}/batch)
expect_error("^scanlab: error: train: a transformer_psm of 2\\.[0-9]+e\\+10 parameters .* on batches of [0-9]+ x 32 tokens .*${fits}$"
             train --config ${CONFIGS}/mqar_cpu.toml --set model.n_embd=24000 --set train.out_dir=${DIR}/wide)
expect_error("^scanlab: error: bench decode: gpt2 at --width 128, --depth 1000000000, --tokens [0-9]+, --batch [0-9]+ ${fits}$"
             bench decode --models gpt2 --depth 1000000000)
expect_error("^scanlab: error: demo: --chunks 1000000000000 x --batch 4 x --dim 32 ${fits}$" demo --chunks 1000000000000)
set(ENV{SCANLAB_MEMORY_LIMIT} lots)
expect_error("^scanlab: error: SCANLAB_MEMORY_LIMIT='lots': expected a positive number of bytes$" demo --chunks 10)
