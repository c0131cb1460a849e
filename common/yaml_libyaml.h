/* yaml_libyaml.h - reach libyaml's <yaml.h> from inside common/.
 *
 * common/ is on the include path and holds Nave's own yaml.h, so a plain
 * #include <yaml.h> finds Nave's header, not libyaml's. Included with angle
 * brackets, this file is itself found through the include path, and
 * #include_next then continues the search after common/ and reaches the
 * system's libyaml header. The pragma silences -Wpedantic's note that
 * #include_next is a GNU extension (GCC and clang both support it).
 * Only common/yaml.c includes this.
 */
#ifndef NAVE_YAML_LIBYAML_H
#define NAVE_YAML_LIBYAML_H

#pragma GCC system_header
#include_next <yaml.h>

#endif
