#include "report/png.h"

#include "core/atomic_file.h"
#include "core/check.h"

#ifdef SCANLAB_WITH_RSVG
#include <librsvg/rsvg.h>
#endif

namespace scanlab::report {

#ifdef SCANLAB_WITH_RSVG

namespace {

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

bool png_supported() { return true; }

void svg_to_png(const std::string& svg, const std::string& png_path) {
  GError* error = nullptr;
  RsvgHandle* handle =
      rsvg_handle_new_from_data(reinterpret_cast<const guint8*>(svg.data()), static_cast<gsize>(svg.size()), &error);
  if (!handle) {
    const std::string why = error ? error->message : "unknown error";
    if (error) g_error_free(error);
    SCANLAB_FAIL(png_path, ": librsvg cannot read the SVG (", why, ")");
  }
  gdouble width = 0, height = 0;
  if (!rsvg_handle_get_intrinsic_size_in_pixels(handle, &width, &height) || width <= 0 || height <= 0) {
    g_object_unref(handle);
    SCANLAB_FAIL(png_path, ": the SVG has no width and height in pixels");
  }
  cairo_surface_t* surface =
      cairo_image_surface_create(CAIRO_FORMAT_ARGB32, static_cast<int>(width), static_cast<int>(height));
  cairo_t* cr = cairo_create(surface);
  const RsvgRectangle viewport{0, 0, width, height};
  const bool drawn = rsvg_handle_render_document(handle, cr, &viewport, &error);
  std::string bytes;
  const cairo_status_t written =
      drawn ? cairo_surface_write_to_png_stream(surface, append_bytes, &bytes) : CAIRO_STATUS_WRITE_ERROR;
  const std::string why = error ? error->message : cairo_status_to_string(written);
  if (error) g_error_free(error);
  cairo_destroy(cr);
  cairo_surface_destroy(surface);
  g_object_unref(handle);
  SCANLAB_CHECK(drawn && written == CAIRO_STATUS_SUCCESS, png_path, ": cannot rasterise the SVG (", why, ")");
  write_file_atomically(png_path, bytes);
}

#else

bool png_supported() { return false; }

void svg_to_png(const std::string&, const std::string& png_path) {
  SCANLAB_FAIL(png_path, ": this scanlab was built without librsvg2-dev, so it writes no PNG");
}

#endif

}  // namespace scanlab::report
