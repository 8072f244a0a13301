// Datasets as NumPy .npz files: one array per datapoint, batch first, as numpy.load sees them:
//   input_<name>   [B, ...]      float64, or int64 for pointer types (node indices)
//   hint_<name>    [B, T, ...]   T = longest trajectory; steps at or after lengths[b] are zero
//   output_<name>  [B, ...]
//   lengths        [B] int64     true number of hint steps per sample
//   meta           0-d unicode   JSON: format, algorithm, nodes, seed, transforms, spec
// `spec` lists [name, stage, location, type] in file order (types as CLRS spells them).
#pragma once
#include <string>

#include "nar/batch.h"
#include "nar/dataset.h"

namespace scanlab::nar {

constexpr const char* kDatasetFormat = "scanlab-nar-dataset-1";

struct DatasetFile {
  Batch batch;
  DatasetOptions options;  // how it was sampled (algorithm, nodes, count, seed, transforms)
};

std::string encode_dataset(const DatasetFile& file);
// Validates every array against the spec in `meta`; `source` names the file in errors.
DatasetFile decode_dataset(const std::string& bytes, const std::string& source);

// Written atomically; throws scanlab::Error naming the path when it cannot be written.
void save_dataset(const std::string& path, const DatasetFile& file);
DatasetFile load_dataset(const std::string& path);

// What `scanlab nar sample` asks for: a dataset, or a CLRS30 split of one, and where to write it.
struct SampleRequest {
  DatasetOptions dataset;
  std::string split;  // "", or train / val / test: replaces nodes, count and seed
  std::string out;
};
// Samples, batches and saves; returns the batch for a summary.
Batch sample_to_file(const SampleRequest& request);
// "<verb> <path>: algorithm, samples, n, T mean/max" and one line per array with its shape.
std::string format_dataset_summary(const Batch& batch, const std::string& path, const std::string& verb);

}  // namespace scanlab::nar
