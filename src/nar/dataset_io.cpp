// Dataset <-> .npz, with every array checked against the spec stored beside it.
#include "nar/dataset_io.h"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "nar/npz.h"

namespace scanlab::nar {
namespace {

std::string member_name(const SpecEntry& e) { return to_string(e.stage) + "_" + e.name; }

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

}  // namespace

std::string encode_dataset(const DatasetFile& file) {
  const Batch& b = file.batch;
  nlohmann::json spec = nlohmann::json::array();
  for (const auto& e : b.spec()) spec.push_back({e.name, to_string(e.stage), to_string(e.location), to_string(e.type)});
  const auto& o = file.options;
  const nlohmann::json meta = {{"format", kDatasetFormat},
                               {"algorithm", b.algorithm},
                               {"nodes", b.nodes},
                               {"count", b.size()},
                               {"seed", o.seed},
                               {"random_pos", o.random_pos},
                               {"pred_as_input", o.pred_as_input},
                               {"enforce_permutations", o.enforce_permutations},
                               {"layout", "batch first: input [B,...], hint [B,T,...], output [B,...]"},
                               {"spec", spec}};
  NpzMembers members;
  for (const auto& d : b.data) {
    members.emplace_back(member_name(d.entry), holds_indices(d.entry.type)
                                                   ? NpyArray::i64(d.value.shape, d.value.data)
                                                   : NpyArray::f64(d.value.shape, d.value.data));
  }
  members.emplace_back("lengths", NpyArray::i64({b.size()}, std::vector<double>(b.lengths.begin(), b.lengths.end())));
  members.emplace_back("meta", NpyArray::text(meta.dump()));
  return encode_npz(members);
}

DatasetFile decode_dataset(const std::string& bytes, const std::string& source) {
  std::map<std::string, NpyArray> arrays;
  for (auto& [name, array] : decode_npz(bytes, source)) {
    SCANLAB_CHECK(arrays.count(name) == 0, source, ": array '", name, "' appears twice");
    arrays.emplace(name, std::move(array));
  }
  auto take = [&](const std::string& name) {
    auto it = arrays.find(name);
    SCANLAB_CHECK(it != arrays.end(), source, ": missing array '", name, "' (not a scanlab nar dataset?)");
    NpyArray a = std::move(it->second);
    arrays.erase(it);
    return a;
  };
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(take("meta").as_text(source + " meta"));
    SCANLAB_CHECK(meta.at("format").get<std::string>() == kDatasetFormat, source, ": format '",
                  meta.at("format").get<std::string>(), "', expected ", kDatasetFormat);
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::concat(source, ": unreadable meta JSON: ", e.what()));
  }
  DatasetFile file;
  Batch& b = file.batch;
  try {
    b.algorithm = meta.at("algorithm").get<std::string>();
    b.nodes = meta.at("nodes").get<int64_t>();
    auto& o = file.options;
    o.algorithm = b.algorithm;
    o.nodes = b.nodes;
    o.count = meta.at("count").get<int64_t>();
    o.seed = meta.at("seed").get<uint32_t>();
    o.random_pos = meta.at("random_pos").get<bool>();
    o.pred_as_input = meta.at("pred_as_input").get<bool>();
    o.enforce_permutations = meta.at("enforce_permutations").get<bool>();
    for (const auto& e : meta.at("spec")) {
      SCANLAB_CHECK(e.is_array() && e.size() == 4, source, ": meta spec entry ", e.dump(),
                    " is not [name, stage, location, type]");
      b.data.push_back({{e[0].get<std::string>(), parse_stage(e[1].get<std::string>()),
                         parse_location(e[2].get<std::string>()), parse_type(e[3].get<std::string>())},
                        {}});
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(detail::concat(source, ": meta JSON lacks a field: ", e.what()));
  }
  const auto lengths = take("lengths");
  SCANLAB_CHECK(lengths.shape.size() == 1 && lengths.descr == "<i8", source, ": 'lengths' must be int64 [B], got ",
                lengths.descr, " ", shape_str(lengths.shape));
  for (double x : lengths.as_doubles(source)) b.lengths.push_back(static_cast<int64_t>(x));
  const int64_t B = b.size(), T = b.max_length();
  for (int64_t s = 0; s < B; ++s)
    SCANLAB_CHECK(b.lengths[s] >= 1, source, ": sample ", s, " has length ", b.lengths[s], ", expected at least 1");
  SCANLAB_CHECK(B == file.options.count && B >= 1, source, ": ", B, " lengths for ", file.options.count, " samples");
  for (auto& d : b.data) {
    const std::string name = member_name(d.entry);
    const auto a = take(name);
    const std::string expected_dtype = holds_indices(d.entry.type) ? "<i8" : "<f8";
    SCANLAB_CHECK(a.descr == expected_dtype, source, ": '", name, "' has dtype ", a.descr, ", expected ",
                  expected_dtype);
    const bool hint = d.entry.stage == Stage::Hint;
    SCANLAB_CHECK(a.shape.size() >= (hint ? 2u : 1u) && a.shape[0] == B && (!hint || a.shape[1] == T), source, ": '",
                  name, "' has shape ", shape_str(a.shape), ", expected [", B, hint ? ", " + std::to_string(T) : "",
                  ", ...] (B samples", hint ? ", T = longest length" : "", ")");
    d.value = Array{a.shape, a.as_doubles(source + " " + name)};
    if (hint) {  // padding after each sample's length must be zero
      const int64_t per_step = d.value.numel() / (B * T);
      for (int64_t s = 0; s < B; ++s)
        for (int64_t k = (b.lengths[s] * per_step); k < T * per_step; ++k)
          SCANLAB_CHECK(d.value.data[(s * T) * per_step + k] == 0.0, source, ": '", name, "' sample ", s,
                        " is not zero after its length ", b.lengths[s]);
    }
  }
  SCANLAB_CHECK(arrays.empty(), source, ": unexpected array '", arrays.empty() ? "" : arrays.begin()->first,
                "' (not in the spec stored in meta)");
  for (int64_t s = 0; s < B; ++s) {
    try {
      unbatch(b, s);
    } catch (const Error& e) {
      throw Error(detail::concat(source, ": sample ", s, ": ", e.what()));
    }
  }
  return file;
}

void save_dataset(const std::string& path, const DatasetFile& file) {
  write_file_atomically(path, encode_dataset(file));
}

DatasetFile load_dataset(const std::string& path) { return decode_dataset(read_file(path), path); }

Batch sample_to_file(const SampleRequest& request) {
  DatasetOptions opts = request.dataset;
  if (!request.split.empty()) {
    const auto split = clrs30_split(opts.algorithm, request.split);
    opts.nodes = split.nodes, opts.count = split.count, opts.seed = split.seed;
  }
  SCANLAB_CHECK(!request.out.empty(), "no output path given");
  DatasetFile file{make_batch(sample_dataset(opts)), opts};
  save_dataset(request.out, file);
  return std::move(file.batch);
}

std::string format_dataset_summary(const Batch& batch, const std::string& path, const std::string& verb) {
  double mean = 0;
  for (auto l : batch.lengths) mean += static_cast<double>(l) / static_cast<double>(batch.size());
  std::ostringstream os;
  os << verb << " " << path << ": " << batch.algorithm << ", " << batch.size() << " samples, n = " << batch.nodes
     << ", hint steps T mean " << mean << " max " << batch.max_length() << "\n";
  for (const auto& d : batch.data)
    os << "  " << member_name(d.entry) << " " << shape_str(d.value.shape) << " " << to_string(d.entry.location) << " "
       << to_string(d.entry.type) << "\n";
  os << "  lengths [" << batch.size() << "]\n";
  return os.str();
}

}  // namespace scanlab::nar
