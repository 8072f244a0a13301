# CLI behaviour: help, bad flags and bad values are errors naming the culprit, the demo agrees.
function(scanlab_cli_test name)
  cmake_parse_arguments(T "" "EXPECT;FAIL_EXPECT" "ARGS" ${ARGN})
  add_test(NAME cli.${name} COMMAND scanlab ${T_ARGS})
  if(T_EXPECT)
    set_tests_properties(cli.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_EXPECT}")
  endif()
  if(T_FAIL_EXPECT)
    # Must exit non-zero and print the expected message.
    add_test(NAME cli.${name}.exit_code COMMAND scanlab ${T_ARGS})
    set_tests_properties(cli.${name}.exit_code PROPERTIES WILL_FAIL TRUE)
    set_tests_properties(cli.${name} PROPERTIES PASS_REGULAR_EXPRESSION "${T_FAIL_EXPECT}")
  endif()
endfunction()

scanlab_cli_test(help ARGS --help EXPECT "Subcommands:.*demo")
scanlab_cli_test(no_subcommand ARGS FAIL_EXPECT "subcommand")
scanlab_cli_test(unknown_flag ARGS --bogus demo FAIL_EXPECT "--bogus")
scanlab_cli_test(bad_device ARGS --device tpu demo FAIL_EXPECT "tpu.*expected cpu, cuda")
scanlab_cli_test(bad_threads ARGS --threads -3 demo FAIL_EXPECT "threads")
scanlab_cli_test(bad_demo_value ARGS demo --chunks zero FAIL_EXPECT "chunks")
scanlab_cli_test(demo ARGS --threads 1 demo --chunks 37 EXPECT "compute the same function")
scanlab_cli_test(bench_bad_format ARGS bench scan -o xml FAIL_EXPECT "xml")
scanlab_cli_test(bench_scan_small ARGS bench scan --lengths 3,17 --dim 8 -r 1 EXPECT "\\| 17 \\|")
scanlab_cli_test(train_unknown_key ARGS train --config ${PROJECT_SOURCE_DIR}/configs/mqar_cpu.toml --set train.bogus=1
                 FAIL_EXPECT "unknown key 'train.bogus'; allowed keys in \\[train\\]:.*batch_size")
scanlab_cli_test(train_bad_choice ARGS train --config ${PROJECT_SOURCE_DIR}/configs/mqar_cpu.toml --set task.kind=sorting
                 FAIL_EXPECT "task.kind = \"sorting\" is not allowed; expected one of: mqar, word_problem, lm")
scanlab_cli_test(train_bad_value ARGS train --config ${PROJECT_SOURCE_DIR}/configs/s5_cpu.toml --set train.lr=-1
                 FAIL_EXPECT "train.lr = -1 must be >= 0")
scanlab_cli_test(train_missing_config ARGS train --config /nonexistent.toml FAIL_EXPECT "nonexistent.toml")
scanlab_cli_test(eval_missing_checkpoint ARGS eval --checkpoint /nonexistent.safetensors FAIL_EXPECT "nonexistent")
scanlab_cli_test(eval_bad_mode ARGS eval --checkpoint ${PROJECT_SOURCE_DIR}/configs/s5.toml --mode sideways FAIL_EXPECT "sideways")
