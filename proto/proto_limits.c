/* proto_limits.c - the default caps of the wire protocol; see proto_limits.h. */
#include "proto_limits.h"

const struct proto_limits proto_limits_default = {
	.max_event_bytes = 1024 * 1024,
	.max_manifests = 500,
	.max_manifest_bytes = 500 * 1024,
	.max_feedback_values = 64,
	.max_feedback_value_bytes = 1024,
	.max_conditions = 32,
	.max_resync_entries = 10000,
	.max_list_entries = 64,
	.max_id_bytes = 128,
	.max_source_bytes = 256,
	.max_name_bytes = 253,
	.max_message_bytes = 32768,
	.max_metadata_bytes = 64 * 1024,
	.max_pem_bytes = 64 * 1024,
	.max_json_depth = 128,
};

void proto_limits_init(struct proto_limits *lim)
{
	*lim = proto_limits_default;
}
