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

# eval, score, bench train-step and nar train estimate from the config too; softmax attention counts
# its T x T scores per head (and per layer in training), float32.
set(ENV{SCANLAB_MEMORY_LIMIT} 8000000000)
file(MAKE_DIRECTORY ${DIR})
foreach(spec "long;256;40000" "task;64;1048576")
  list(GET spec 0 name)
  list(GET spec 1 vocab)
  list(GET spec 2 positions)
  execute_process(COMMAND ${SCANLAB} --threads 1 init-model --model gpt2 --preset small --set vocab_size=${vocab}
                          --set n_positions=${positions} --out ${DIR}/gpt2_${name}.safetensors
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "init-model for the bounds test failed: ${err}")
  endif()
endforeach()
string(REPEAT "1 " 40000 ids)
file(WRITE ${DIR}/tokens_long.txt "${ids}\n")
expect_error("^scanlab: error: score: a gpt2 on 40000 tokens of .*tokens_long.txt in one forward \\(--mode parallel\\) ${fits}$"
             score --checkpoint ${DIR}/gpt2_long.safetensors --tokens ${DIR}/tokens_long.txt)
expect_error("^scanlab: error: eval: .*gpt2_task.safetensors \\(gpt2\\) on batches of 4 x 65536 tokens \\(--batch-size x length, parallel mode\\) ${fits}$"
             eval --checkpoint ${DIR}/gpt2_task.safetensors --config ${CONFIGS}/mqar_cpu.toml --lengths 65536 --batch-size 4
             --mode parallel)
expect_error("^scanlab: error: bench train-step: gpt2 at --width 128, --depth 2, --batch 32, length 65536 ${fits}$"
             bench train-step --models gpt2 --lengths 65536)
expect_error("^scanlab: error: nar train: a mpnn processor of --hidden 60000 on batches of 32 graphs \\(--batch\\) of 16 nodes \\(--train-nodes; 64 to evaluate\\) ${fits}$"
             nar train --algorithm minimum --hidden 60000)
