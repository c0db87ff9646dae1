/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Render the status JSON (fields: status-schema.h) as a readable summary. */
#pragma once

#include <stdio.h>

#include <json-c/json.h>

/* Write the human summary of @status to @f.  Missing keys print as "?". */
void status_format_human(json_object *status, FILE *f);

/* Write the KSM detail ("memballoonctl ksm") of @status to @f. */
void status_format_ksm(json_object *status, FILE *f);

/* Format a KiB amount as "512 MiB", "1.5 GiB" or "300 KiB". */
void format_kib(unsigned long long kib, char *buf, size_t size);
