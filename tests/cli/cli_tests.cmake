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

# scanlab nar: datasets, read-back, statistics, and errors that name the culprit.
set(NAR_NPZ ${PROJECT_BINARY_DIR}/cli_nar_parallel_search.npz)
scanlab_cli_test(nar_help ARGS nar --help EXPECT "sample.*inspect.*stats.*list")
scanlab_cli_test(nar_sample ARGS nar sample --algorithm parallel_search --n 8 --count 3 --seed 5 --out ${NAR_NPZ}
                 EXPECT "wrote .*parallel_search, 3 samples, n = 9.*hint_leq_target \\[3, 1, 9\\]")
scanlab_cli_test(nar_inspect ARGS nar inspect ${NAR_NPZ} EXPECT "read .*parallel_search, 3 samples.*output_return \\[3\\] graph pointer")
set_tests_properties(cli.nar_sample PROPERTIES FIXTURES_SETUP nar_npz)
set_tests_properties(cli.nar_inspect PROPERTIES FIXTURES_REQUIRED nar_npz)
scanlab_cli_test(nar_sample_split ARGS nar sample --algorithm bubble_sort --split val --random-pos --enforce-permutations
                 --out ${PROJECT_BINARY_DIR}/cli_nar_bubble_val.npz EXPECT "32 samples, n = 16.*T mean 121.*output_pred_mask")
scanlab_cli_test(nar_unknown_algorithm ARGS nar sample --algorithm quicksort --out x.npz
                 FAIL_EXPECT "unknown algorithm 'quicksort'; known algorithms: binary_search")
scanlab_cli_test(nar_n_out_of_range ARGS nar sample --algorithm parallel_scc --n 2 --out x.npz FAIL_EXPECT "n = 2 is out of range; expected 4 <= n")
scanlab_cli_test(nar_unwritable ARGS nar sample --algorithm minimum --out /nonexistent-dir/x.npz FAIL_EXPECT "cannot write '/nonexistent-dir/x.npz'")
scanlab_cli_test(nar_split_and_n ARGS nar sample --algorithm minimum --split train --n 8 --out x.npz FAIL_EXPECT "excludes")
scanlab_cli_test(nar_inspect_not_npz ARGS nar inspect ${PROJECT_SOURCE_DIR}/CMakeLists.txt FAIL_EXPECT "CMakeLists.txt: not a .npz file")
scanlab_cli_test(nar_stats_small ARGS nar stats --n 8 --count 3 --algorithms bubble_sort,parallel_search
                 EXPECT "\\| bubble_sort \\| sort \\| sequential \\| 8 \\| 29.0 \\| 29 \\|.*\\| parallel_search \\| search \\| parallel \\| 8 \\| 1.0 \\| 1 \\| - \\| - \\|")

# nar train / eval / compare (GNN training on the algorithm library; tiny sizes keep them fast).
scanlab_cli_test(nar_train_tiny ARGS --threads 1 nar train --algorithm parallel_search --processor mpnn --steps 3
                 --eval-every 2 --batch 4 --hidden 8 --train-samples 8 --eval-samples 1 --train-nodes 4 --val-nodes 4
                 --test-nodes 6 EXPECT "best validation score \\(n = 4\\).*test score \\(n = 6\\)")
scanlab_cli_test(nar_train_bad_processor ARGS nar train --algorithm parallel_search --processor bogus --steps 1
                 FAIL_EXPECT "unknown processor 'bogus'")
scanlab_cli_test(nar_train_bad_algorithm ARGS nar train --algorithm quantum_sort --steps 1 FAIL_EXPECT "quantum_sort")
scanlab_cli_test(nar_compare_bad_pair ARGS nar compare --pair search,graph_coloring --steps 1 FAIL_EXPECT "unknown task pair 'graph_coloring'")
scanlab_cli_test(nar_eval_missing_checkpoint ARGS nar eval --checkpoint /nonexistent/ckpt.safetensors FAIL_EXPECT "/nonexistent/ckpt.safetensors")
set(NAR_CKPT ${PROJECT_BINARY_DIR}/cli_nar_oets.safetensors)
scanlab_cli_test(nar_train_save ARGS --threads 1 nar train --algorithm odd_even_transposition_sort --processor triplet_gmpnn
                 --protocol clrs --steps 2 --eval-every 1 --batch 4 --hidden 8 --train-samples 8 --eval-samples 2
                 --train-nodes 5 --val-nodes 5 --test-nodes 7 --save ${NAR_CKPT} EXPECT "triplet_gmpnn.*5 processor steps per batch")
scanlab_cli_test(nar_eval_checkpoint ARGS --threads 1 nar eval --checkpoint ${NAR_CKPT} --nodes 9 --samples 3
                 EXPECT "odd_even_transposition_sort / triplet_gmpnn \\(seed 42\\) on 3 test samples at n = 9: score")
set_tests_properties(cli.nar_train_save PROPERTIES FIXTURES_SETUP nar_ckpt)
set_tests_properties(cli.nar_eval_checkpoint PROPERTIES FIXTURES_REQUIRED nar_ckpt)
