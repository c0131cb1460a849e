/* kapi_table.h - meta.k8s.io/v1 Table responses, the form `kubectl get` prints.
 *
 * kubectl asks for Tables (Accept: application/json;as=Table;v=v1;g=meta.k8s.io)
 * on get, list and get -w, and prints the server's columns. This module knows
 * the usual columns of the common kinds (Deployment: NAME READY UP-TO-DATE
 * AVAILABLE AGE; Pod: NAME READY STATUS RESTARTS AGE; ...) and falls back to
 * NAME and AGE (plus CRD additionalPrinterColumns when given) for the rest.
 */
#ifndef NAVE_KAPI_TABLE_H
#define NAVE_KAPI_TABLE_H

#include <stdint.h>

#include <jansson.h>

enum kapi_table_include {
	KAPI_TABLE_INCLUDE_NONE,     /* includeObject=None */
	KAPI_TABLE_INCLUDE_METADATA, /* default: PartialObjectMetadata */
	KAPI_TABLE_INCLUDE_OBJECT,   /* includeObject=Object */
};

/* Build a Table for items (a JSON array of whole objects of one kind).
 * group ("" for core) and kind select the columns; printer_columns is a CRD
 * version's additionalPrinterColumns array or NULL. resource_version and
 * continue_token (either may be NULL) go into the Table's metadata. now_us is
 * the wall clock used for AGE. Returns a new reference (caller decrefs). */
json_t *kapi_table_build(const char *group, const char *kind, const json_t *items,
			 const json_t *printer_columns, const char *resource_version,
			 const char *continue_token, enum kapi_table_include include,
			 int64_t now_us);

/* The Accept header asks for a Table. */
int kapi_table_wanted(const char *accept);

/* Kubernetes' human duration for AGE: "5s", "3m2s", "4h", "2d3h", "120d", ... into out[16]. */
char *kapi_table_age(int64_t seconds, char *out);

#endif
