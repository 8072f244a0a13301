// PNG copies of the report's SVG plots: the SVG text rasterised by librsvg into a cairo image
// surface, so the PNG shows the very plot the SVG does. Built only where librsvg2-dev was found
// (CMake says so when it is not); png_supported() tells the caller.
#pragma once
#include <string>

namespace scanlab::report {

bool png_supported();
// Writes `png_path` (atomically) from the SVG document `svg`; throws naming the file on failure.
void svg_to_png(const std::string& svg, const std::string& png_path);

}  // namespace scanlab::report
