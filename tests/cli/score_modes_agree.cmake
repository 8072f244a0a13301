# Runs `scanlab score` in parallel and in stream mode on the same checkpoint and input and fails
# unless both print the same NLL line (the CLI-level view of the duality invariant).
# Usage: cmake -DSCANLAB=<binary> -DCHECKPOINT=<file> -DINPUT_FLAG=--text|--tokens -DINPUT=<file> -P this
foreach(mode parallel stream)
  execute_process(COMMAND ${SCANLAB} --threads 1 --device cpu score --checkpoint ${CHECKPOINT} ${INPUT_FLAG} ${INPUT}
                          --mode ${mode}
                  OUTPUT_VARIABLE out_${mode} ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "score --mode ${mode} failed (${rc}): ${err}")
  endif()
  string(REGEX MATCH "mean NLL [0-9.]+ nats/token, perplexity [0-9.]+" line_${mode} "${out_${mode}}")
  if(NOT line_${mode})
    message(FATAL_ERROR "score --mode ${mode} printed no NLL line: ${out_${mode}}")
  endif()
endforeach()
if(NOT line_parallel STREQUAL line_stream)
  message(FATAL_ERROR "parallel and stream disagree:\n  ${line_parallel}\n  ${line_stream}")
endif()
message(STATUS "parallel == stream: ${line_parallel}")
