/* apprev_text.h - the text two ApplicationRevisions are compared by.
 *
 * What `navectl app diff` and the hub's web view (GET /nave/v1/ui/
 * applications/NS/NAME/diff) diff, line by line (textdiff.h): each side is
 * the revision's spec.application (the Application as submitted) as YAML,
 * then, for each definition map of the revisions' specs
 * (componentDefinitions, traitDefinitions, workflowStepDefinitions,
 * policyDefinitions), each definition the two revisions do not share
 * unchanged (compared by kind, metadata.name and spec, not the metadata the
 * server changes), in name order, as "---\n# <map>.<name>\n" and its YAML,
 * or "# (not used by <revision>)" on the side that lacks it. The shapes are
 * hub/app.h's ("APPLICATIONREVISION"); this module only reads JSON, so both
 * navectl and nave-hub link it. Pure, no I/O.
 */
#ifndef NAVE_APPREV_TEXT_H
#define NAVE_APPREV_TEXT_H

#include <jansson.h>

/* The text of side (0: a, 1: b) of the comparison of ApplicationRevision
 * objects a and b (both borrowed). Returns a new string the caller frees
 * with free(); never NULL. */
char *apprev_text_side(const json_t *a, const json_t *b, int side);

#endif
