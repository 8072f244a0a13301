// A small SVG line-plot writer (no plotting dependency): one or more named series on linear axes
// with ticks, axis labels, a title and a legend. Used for error-vs-length sweeps and training curves.
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

std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotSpec& spec);

}  // namespace scanlab::io
