// The SVG writer: valid structure, one polyline and legend entry per series, escaped text, points
// mapped inside the frame, and clear errors for mismatched or empty data.
#include <gtest/gtest.h>

#include "core/check.h"
#include "io/svg_plot.h"

namespace scanlab::io {
namespace {

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

TEST(SvgPlot, DrawsEverySeriesWithALegend) {
  PlotSeries a{"psm <c=1>", {18, 26, 34}, {0.0, 0.01, 0.05}};
  PlotSeries b{"gpt2", {18, 26, 34}, {0.0, 0.4, NAN}};
  const auto svg = svg_line_plot({a, b}, {"error vs length", "length", "error rate"});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 2u);
  EXPECT_NE(svg.find("psm &lt;c=1&gt;"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 5u);  // the NaN point is skipped
  EXPECT_NE(svg.find(">error vs length<"), std::string::npos);
}

TEST(SvgPlot, BarChartDrawsOneBarPerGroupAndCategory) {
  const std::string svg = svg_bar_chart({"mpnn", "gat", "pgn"}, {"bubble_sort", "oets"}, {{10, 20, 30}, {1, 2, 3}},
                                        {"time per step", "", "ms"}, true);
  EXPECT_EQ(count(svg, "<rect"), 1u + 6u);  // background + 2 groups x 3 categories
  EXPECT_NE(svg.find("ms (log scale)"), std::string::npos);
  EXPECT_NE(svg.find(">bubble_sort<"), std::string::npos);
  // Log scale: the axis spans whole decades, 1 to 100 here.
  EXPECT_NE(svg.find(">100<"), std::string::npos);
  EXPECT_THROW(svg_bar_chart({"a"}, {"g", "h"}, {{1}}, {}, false), Error);
}

TEST(SvgPlot, BadDataIsAnError) {
  EXPECT_THROW(svg_line_plot({{"x", {1, 2}, {1}}}, {}), Error);
  EXPECT_THROW(svg_line_plot({{"x", {NAN}, {NAN}}}, {}), Error);
  // Values whose span overflows a double: an error, not an SVG full of NaN coordinates.
  EXPECT_THROW(svg_line_plot({{"x", {1, 2}, {1e308, -1e308}}}, {}), Error);
  const std::string wide = svg_line_plot({{"x", {1, 2}, {1e306, -1e306}}}, {});
  EXPECT_EQ(wide.find("nan"), std::string::npos);
  EXPECT_EQ(wide.find("inf"), std::string::npos);
}

}  // namespace
}  // namespace scanlab::io
