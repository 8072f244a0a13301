// A small SVG chart writer (no plotting dependency): line plots of named series on linear axes, and
// grouped bar charts (optionally log-scaled), with ticks, axis labels, a title and a legend. Used for
// error-vs-length sweeps, training curves and the NAR study's figures.
#pragma once
#include <string>
#include <vector>

namespace scanlab::io {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;  // same length; non-finite points are skipped
};

struct PlotSpec {
  std::string title, x_label, y_label;
  int width = 720, height = 440;
};

// Text for SVG/HTML: <, >, & and " as entities.
std::string xml_escape(const std::string& s);

std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotSpec& spec);

// values[g][c]: the bar of group g (one colour per group, named in `groups`) at category c. With
// log_scale the bars are drawn on a log10 axis (values <= 0 are clamped to 1e-12).
std::string svg_bar_chart(const std::vector<std::string>& categories, const std::vector<std::string>& groups,
                          const std::vector<std::vector<double>>& values, const PlotSpec& spec, bool log_scale);

}  // namespace scanlab::io
