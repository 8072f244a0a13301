#include "nar/study/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace scanlab::nar::study {

namespace {

constexpr double kWidth = 720, kHeight = 420, kLeft = 70, kRight = 180, kTop = 40, kBottom = 60;
const char* const kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

struct Frame {
  double x0, x1, y0, y1;
  double px(double x) const { return kLeft + (x1 > x0 ? (x - x0) / (x1 - x0) : 0.5) * (kWidth - kLeft - kRight); }
  double py(double y) const { return kHeight - kBottom - (y1 > y0 ? (y - y0) / (y1 - y0) : 0.5) * (kHeight - kTop - kBottom); }
};

std::string header(const std::string& title, const std::string& x_label, const std::string& y_label) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"22\" font-size=\"15\" text-anchor=\"middle\">{3}</text>\n"
      "<text x=\"{2}\" y=\"{4}\" text-anchor=\"middle\">{5}</text>\n"
      "<text transform=\"translate(16,{6}) rotate(-90)\" text-anchor=\"middle\">{7}</text>\n",
      kWidth, kHeight, (kWidth - kRight + kLeft) / 2, escape(title), kHeight - 15, escape(x_label),
      (kHeight - kBottom + kTop) / 2, escape(y_label));
}

std::string y_axis(const Frame& f, bool log_scale) {
  std::string s = fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"black\"/>\n", kLeft, f.py(f.y0), f.py(f.y1));
  for (int k = 0; k <= 4; ++k) {
    const double v = f.y0 + (f.y1 - f.y0) * k / 4.0;
    const double shown = log_scale ? std::pow(10.0, v) : v;
    s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.3g}</text>\n", kLeft - 6, f.py(v) + 4, shown);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", kLeft, f.py(v), kWidth - kRight, f.py(v));
  }
  return s;
}

std::string legend(const std::vector<std::string>& labels) {
  std::string s;
  for (size_t k = 0; k < labels.size(); ++k) {
    const double y = kTop + 16.0 * static_cast<double>(k);
    s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"10\" fill=\"{}\"/>", kWidth - kRight + 12, y,
                     kColours[k % 10]);
    s += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", kWidth - kRight + 30, y + 10, escape(labels[k]));
  }
  return s;
}

}  // namespace

std::string line_chart_svg(const std::string& title, const std::string& x_label, const std::string& y_label,
                           const std::vector<Series>& series) {
  SCANLAB_CHECK(!series.empty(), "a line chart needs at least one series");
  Frame f{1e300, -1e300, 1e300, -1e300};
  for (const auto& s : series) {
    SCANLAB_CHECK(s.x.size() == s.y.size(), "series '", s.label, "' has ", s.x.size(), " x values and ", s.y.size(), " y values");
    for (size_t k = 0; k < s.x.size(); ++k) {
      f.x0 = std::min(f.x0, s.x[k]); f.x1 = std::max(f.x1, s.x[k]);
      f.y0 = std::min(f.y0, s.y[k]); f.y1 = std::max(f.y1, s.y[k]);
    }
  }
  if (f.x0 > f.x1) f = {0, 1, 0, 1};
  f.y0 = std::min(f.y0, 0.0);
  std::string svg = header(title, x_label, y_label) + y_axis(f, false);
  svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\n", kLeft, f.py(f.y0), kWidth - kRight, f.py(f.y0));
  for (int k = 0; k <= 4; ++k) {
    const double v = f.x0 + (f.x1 - f.x0) * k / 4.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.4g}</text>\n", f.px(v), kHeight - kBottom + 16, v);
  }
  std::vector<std::string> labels;
  for (size_t k = 0; k < series.size(); ++k) {
    std::string points;
    for (size_t i = 0; i < series[k].x.size(); ++i) points += fmt::format("{:.1f},{:.1f} ", f.px(series[k].x[i]), f.py(series[k].y[i]));
    svg += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\" points=\"{}\"/>\n", kColours[k % 10], points);
    labels.push_back(series[k].label);
  }
  return svg + legend(labels) + "</svg>\n";
}

std::string bar_chart_svg(const std::string& title, const std::string& y_label, const std::vector<std::string>& categories,
                          const std::vector<std::string>& groups, const std::vector<std::vector<double>>& values,
                          bool log_scale) {
  SCANLAB_CHECK(!categories.empty() && values.size() == groups.size(), "bar chart: ", groups.size(), " groups but ",
                values.size(), " value rows");
  auto scaled = [&](double v) { return log_scale ? std::log10(std::max(v, 1e-12)) : v; };
  Frame f{0, static_cast<double>(categories.size()), 1e300, -1e300};
  for (const auto& row : values) {
    SCANLAB_CHECK(row.size() == categories.size(), "bar chart: a row has ", row.size(), " values for ", categories.size(), " categories");
    for (double v : row) { f.y0 = std::min(f.y0, scaled(v)); f.y1 = std::max(f.y1, scaled(v)); }
  }
  f.y0 = log_scale ? std::floor(f.y0) : std::min(f.y0, 0.0);
  f.y1 = log_scale ? std::ceil(f.y1) : f.y1;
  std::string svg = header(title, "", log_scale ? y_label + " (log scale)" : y_label) + y_axis(f, log_scale);
  const double slot = 1.0 / static_cast<double>(groups.size() + 1);
  for (size_t c = 0; c < categories.size(); ++c) {
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", f.px(c + 0.5), kHeight - kBottom + 16,
                       escape(categories[c]));
    for (size_t g = 0; g < groups.size(); ++g) {
      const double x = f.px(c + slot * (g + 0.5)), w = f.px(c + slot * (g + 1.5)) - x;
      const double top = f.py(scaled(values[g][c])), bottom = f.py(f.y0);
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>\n", x, top, w,
                         std::max(0.0, bottom - top), kColours[g % 10]);
    }
  }
  return svg + legend(groups) + "</svg>\n";
}

}  // namespace scanlab::nar::study
