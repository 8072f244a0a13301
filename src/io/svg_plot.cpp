#include "io/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/check.h"

namespace scanlab::io {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '"')
      out += "&quot;";
    else
      out += c;
  }
  return out;
}
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

// About five round tick values covering [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double raw = (hi - lo) / 5;
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string num(double v) {
  std::ostringstream os;
  os.precision(4);
  os << v;
  return os.str();
}

std::string legend_entry(size_t k, double right, double top, const char* color, const std::string& name) {
  std::ostringstream svg;
  const double ly = top + 10 + 20.0 * static_cast<double>(k);
  svg << "<line x1=\"" << right + 12 << "\" y1=\"" << ly << "\" x2=\"" << right + 36 << "\" y2=\"" << ly
      << "\" stroke=\"" << color << "\" stroke-width=\"4\"/>\n<text x=\"" << right + 42 << "\" y=\"" << ly + 4 << "\">"
      << xml_escape(name) << "</text>\n";
  return svg.str();
}

// <svg> with a white background and the title centred over the plot area.
std::string opening(const PlotSpec& spec, double title_x) {
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << spec.width << "\" height=\"" << spec.height
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << title_x << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(spec.title)
      << "</text>\n";
  return svg.str();
}

// The page grows to the right so that the longest legend name fits (about 7 px a character at
// 12 px); the plot area keeps its size.
PlotSpec with_legend_room(PlotSpec spec, const std::vector<std::string>& names) {
  size_t longest = 0;
  for (const auto& n : names) longest = std::max(longest, n.size());
  spec.width += std::max(0, static_cast<int>(longest) * 7 + 50 - 170);
  return spec;
}

const char* color_of(size_t k) { return kColors[k % (sizeof kColors / sizeof kColors[0])]; }

}  // namespace

std::string svg_bar_chart(const std::vector<std::string>& categories, const std::vector<std::string>& groups,
                          const std::vector<std::vector<double>>& values, const PlotSpec& spec, bool log_scale) {
  SCANLAB_CHECK(!categories.empty() && values.size() == groups.size(), "bar chart '", spec.title, "': ", groups.size(),
                " groups but ", values.size(), " value rows");
  auto scaled = [&](double v) { return log_scale ? std::log10(std::max(v, 1e-12)) : v; };
  double ymin = INFINITY, ymax = -INFINITY;
  for (const auto& row : values) {
    SCANLAB_CHECK(row.size() == categories.size(), "bar chart '", spec.title, "': a row has ", row.size(),
                  " values for ", categories.size(), " categories");
    for (double v : row) ymin = std::min(ymin, scaled(v)), ymax = std::max(ymax, scaled(v));
  }
  ymin = log_scale ? std::floor(ymin) : std::min(ymin, 0.0);
  ymax = log_scale ? std::max(std::ceil(ymax), ymin + 1) : std::max(ymax, ymin + 1e-12);
  const double left = 70, right = spec.width - 170.0, top = 40, bottom = spec.height - 55.0;
  const double n = static_cast<double>(categories.size());
  auto px = [&](double x) { return left + x / n * (right - left); };
  auto py = [&](double y) { return bottom - (y - ymin) / (ymax - ymin) * (bottom - top); };
  std::ostringstream svg;
  svg << opening(with_legend_room(spec, groups), (left + right) / 2);
  for (double t : ticks(ymin, ymax)) {
    svg << "<line x1=\"" << left << "\" y1=\"" << py(t) << "\" x2=\"" << right << "\" y2=\"" << py(t)
        << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << left - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
        << num(log_scale ? std::pow(10.0, t) : t) << "</text>\n";
  }
  svg << "<text transform=\"translate(18," << (top + bottom) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(log_scale ? spec.y_label + " (log scale)" : spec.y_label) << "</text>\n";
  const double slot = 1.0 / static_cast<double>(groups.size() + 1);
  for (size_t c = 0; c < categories.size(); ++c) {
    const double x0 = static_cast<double>(c);
    svg << "<text x=\"" << px(x0 + 0.5) << "\" y=\"" << bottom + 16 << "\" text-anchor=\"middle\">"
        << xml_escape(categories[c]) << "</text>\n";
    for (size_t g = 0; g < groups.size(); ++g) {
      const double x = px(x0 + slot * (static_cast<double>(g) + 0.5)),
                   w = px(x0 + slot * (static_cast<double>(g) + 1.5)) - x;
      const double y = py(scaled(values[g][c]));
      svg << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << w << "\" height=\"" << std::max(0.0, bottom - y)
          << "\" fill=\"" << color_of(g) << "\"/>\n";
    }
  }
  svg << "<line x1=\"" << left << "\" y1=\"" << bottom << "\" x2=\"" << right << "\" y2=\"" << bottom
      << "\" stroke=\"black\"/>\n";
  for (size_t g = 0; g < groups.size(); ++g) svg << legend_entry(g, right, top, color_of(g), groups[g]);
  svg << "</svg>\n";
  return svg.str();
}

std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotSpec& spec) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : series) {
    SCANLAB_CHECK(s.x.size() == s.y.size(), "plot: series '", s.name, "' has ", s.x.size(), " x values and ",
                  s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]), xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]), ymax = std::max(ymax, s.y[i]);
    }
  }
  SCANLAB_CHECK(std::isfinite(xmin), "plot '", spec.title, "': no finite points to draw");
  // A span beyond double's range (values near +-1e308) would turn every coordinate into NaN.
  SCANLAB_CHECK(std::isfinite(1.1 * (xmax - xmin)) && std::isfinite(1.1 * (ymax - ymin)), "plot '", spec.title,
                "': the values span [", xmin, ", ", xmax, "] x [", ymin, ", ", ymax,
                "], more than a double can scale; expected magnitudes below 1e307");
  if (xmax == xmin) xmin -= 1, xmax += 1;
  if (ymax == ymin) ymin -= 0.5, ymax += 0.5;
  const double pad = 0.05 * (ymax - ymin);
  ymin -= pad, ymax += pad;
  const double left = 70, right = spec.width - 170.0, top = 40, bottom = spec.height - 55.0;
  auto px = [&](double x) { return left + (x - xmin) / (xmax - xmin) * (right - left); };
  auto py = [&](double y) { return bottom - (y - ymin) / (ymax - ymin) * (bottom - top); };

  std::vector<std::string> names;
  for (const auto& s : series) names.push_back(s.name);
  std::ostringstream svg;
  svg << opening(with_legend_room(spec, names), (left + right) / 2);
  for (double t : ticks(xmin, xmax)) {
    svg << "<line x1=\"" << px(t) << "\" y1=\"" << top << "\" x2=\"" << px(t) << "\" y2=\"" << bottom
        << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << px(t) << "\" y=\"" << bottom + 16 << "\" text-anchor=\"middle\">"
        << num(t) << "</text>\n";
  }
  for (double t : ticks(ymin, ymax)) {
    svg << "<line x1=\"" << left << "\" y1=\"" << py(t) << "\" x2=\"" << right << "\" y2=\"" << py(t)
        << "\" stroke=\"#e5e5e5\"/>\n<text x=\"" << left - 6 << "\" y=\"" << py(t) + 4 << "\" text-anchor=\"end\">"
        << num(t) << "</text>\n";
  }
  svg << "<rect x=\"" << left << "\" y=\"" << top << "\" width=\"" << right - left << "\" height=\"" << bottom - top
      << "\" fill=\"none\" stroke=\"black\"/>\n";
  svg << "<text x=\"" << (left + right) / 2 << "\" y=\"" << spec.height - 15 << "\" text-anchor=\"middle\">"
      << xml_escape(spec.x_label) << "</text>\n";
  svg << "<text transform=\"translate(18," << (top + bottom) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
      << xml_escape(spec.y_label) << "</text>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* color = color_of(k);
    svg << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"";
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) svg << px(s.x[i]) << "," << py(s.y[i]) << " ";
    svg << "\"/>\n";
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && s.x.size() <= 40)
        svg << "<circle cx=\"" << px(s.x[i]) << "\" cy=\"" << py(s.y[i]) << "\" r=\"3\" fill=\"" << color << "\"/>\n";
    svg << legend_entry(k, right, top, color, s.name);
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace scanlab::io
