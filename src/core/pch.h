// Precompiled header for every scanlab target: LibTorch's headers dominate compile time (~30 s per
// translation unit on 2 cores), so they are parsed once here. Sources still include what they use.
#pragma once
#include <fmt/format.h>
#include <torch/torch.h>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>
