// The papers' claims (PSM paper, Engelmayer et al. 2023) beside what the runs present measured, each with a
// verdict decided by a fixed rule (the rules: src/report/README.md). A verdict is "not established"
// whenever the runs the rule needs are absent or too little trained to tell.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "report/runs.h"

namespace scanlab::report {

enum class Verdict { Agrees, Disagrees, NotEstablished };
const char* verdict_name(Verdict v);  // "agrees", "disagrees", "not established"

struct Claim {
  std::string paper;  // where the claim is made, e.g. "PSM §4.2 (Fig. 4)"
  std::string claim;
  std::string measured;  // the numbers the verdict rests on (run names and values), or what is missing
  Verdict verdict = Verdict::NotEstablished;
};

struct ClaimRules {
  double near_perfect = 0.95;  // accuracy that counts as "near perfect" / an error of at most 0.05 as "low"
  std::vector<int64_t> mqar_lengths{128, 256, 512};  // the paper's MQAR lengths
  int64_t s5_factor = 6;                             // "low error to >= 6x the training length"
  int64_t lm_window = 512;                           // the paper's LM window
  double close_ratio = 1.05;                         // "close to GPT-2": perplexity within 5%
  int64_t decode_tokens = 40000;                     // Fig. 6 decodes 40K tokens
  double flat_growth = 1.5;                          // latency at the last window / the first: at most this is "flat"
};

// One evaluated (or last-validated) result of a trained run.
struct Observation {
  std::string run, task, model, from;                           // from: the file it was read from
  int64_t chunk = 0, train_len = 0, eval_len = 0, scored = -1;  // scored -1: from training metrics
  double accuracy = 0, loss = 0;
  int64_t steps = 0;  // training steps of the run; 0 unknown
};
// eval.json rows first; a training run's last validation where no eval row of that run and length exists.
std::vector<Observation> observations(const RunSet& runs);

std::vector<Claim> judge_claims(const RunSet& runs, const ClaimRules& rules = {});

}  // namespace scanlab::report
