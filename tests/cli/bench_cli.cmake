# `scanlab bench train-step` and `scanlab bench ops` errors (exit code 2, one line naming the culprit)
# and `bench ops --dump` files (one per op, a safetensors header naming inputs, outputs and gradients).
# Usage: cmake -DSCANLAB=<binary> -DDIR=<dump dir> -P this
include(${CMAKE_CURRENT_LIST_DIR}/expect_error.cmake)

expect_error("--dtype 'float16': expected float32 or bfloat16" bench train-step --lengths 8 --width 16 --dtype float16)
# Parse errors: one line, exit code 2 (not CLI11's 105+), an unknown flag named before a missing one.
expect_error("unknown option --no-such-flag" train --no-such-flag)
expect_error("unknown option --bogus" score --bogus 3)
expect_error("--config is required" train)
expect_error("nar train: --teacher-forcing is 2; expected 0 to 1" nar train --algorithm minimum --steps 1
             --teacher-forcing 2)
expect_error("cannot create directories.*/proc/scanlab-nope" train --config ${CMAKE_CURRENT_LIST_DIR}/../../configs/mqar_cpu.toml
             --set train.steps=1 "--set=train.out_dir=\"/proc/scanlab-nope/run\"")
expect_error("--seed: got -1; expected an integer from 0 to 18446744073709551615" --seed -1 demo)
expect_error("--seed: got 18446744073709551616; expected an integer" --seed 18446744073709551616 demo)
expect_error("--threads: got 100000; expected 0 \\(all cores\\) or 1\\.\\." --threads 100000 demo)
expect_error("--chunks: Value zero could not be converted|chunks" demo --chunks zero)
expect_error("--paths 'fast': expected auto or torch" bench train-step --lengths 8 --width 16 --paths auto,fast)
expect_error("--paths 'cuda': expected auto, torch, recurrence, tf32-walk or float32-walk" bench ops --paths cuda --tokens 64 --lengths 32 --heads 2 --dim 8)
expect_error("--dtype bfloat16 is CUDA autocast .* needs --device cuda" --device cpu bench train-step --lengths 8 --dtype bfloat16)
expect_error("unknown op 'flash'; known ops: linear_attn, scalar_gate, gla, mlstm, delta_rule, gated_delta_rule"
             bench ops --ops gla,flash --tokens 64 --lengths 32 --heads 2 --dim 8)
expect_error("--tokens 64 must be a positive multiple of every length; T = 48" bench ops --tokens 64 --lengths 48)

file(REMOVE_RECURSE ${DIR})
execute_process(COMMAND ${SCANLAB} --threads 1 bench ops --tokens 64 --lengths 32 --heads 2 --dim 8 -r 1 --pass fwd
                        --dump ${DIR}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench ops --dump failed (${rc}): ${err}")
endif()
foreach(op linear_attn scalar_gate gla mlstm delta_rule gated_delta_rule)
  set(file ${DIR}/${op}_T32_B2_H2_d8.safetensors)
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "bench ops --dump wrote no ${file}; stderr: ${err}")
  endif()
  file(STRINGS ${file} header LIMIT_COUNT 1 REGEX "__metadata__")  # the JSON header after 8 length bytes
  foreach(name "\"q\"" "\"dq\"" "\"dk\"" "\"dv\"" "\"o\"" "\"do\"" "\"op\":\"${op}\"")
    string(FIND "${header}" "${name}" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${file}: header lacks ${name}: ${header}")
    endif()
  endforeach()
endforeach()
message(STATUS "bench ops dumps: ${DIR}")
