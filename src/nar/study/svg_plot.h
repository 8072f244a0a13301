// Minimal SVG charts for the study's figures (no plotting dependency): a line chart of several
// series (score vs step) and a grouped bar chart (time per step, optionally log-scaled).
#pragma once
#include <string>
#include <vector>

namespace scanlab::nar::study {

struct Series {
  std::string label;
  std::vector<double> x, y;
};

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series);

// values[g][c]: the bar of group g (one colour per group, named in `groups`) at category c.
std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                          const std::vector<std::string>& groups, const std::vector<std::vector<double>>& values,
                          bool log_scale);

}  // namespace scanlab::nar::study
