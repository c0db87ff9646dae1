/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <assert.h>
#include <math.h>
#include <string.h>

#include "status-schema.h"

const StatusFieldInfo status_fields[_SF_MAX] = {
#define STATUS_FIELD_INFO(id_, path_, type_) [SF_##id_] = { path_, STATUS_##type_ },
        STATUS_FIELDS(STATUS_FIELD_INFO)
#undef STATUS_FIELD_INFO
};

/* Walk (and with @create, build) the objects of @path up to its last
 * component; returns the parent object and the last key in *ret_key. */
static json_object *parent_of(json_object *root, const char *path, bool create, char *key, size_t key_size)
{
        json_object *o = root;
        const char *dot;

        while (o && (dot = strchr(path, '.'))) {
                json_object *next = NULL;
                size_t n = (size_t) (dot - path);

                if (n >= key_size)
                        return NULL;
                memcpy(key, path, n);
                key[n] = '\0';
                if (!json_object_object_get_ex(o, key, &next) || !json_object_is_type(next, json_type_object)) {
                        if (!create)
                                return NULL;
                        next = json_object_new_object();
                        if (!next || json_object_object_add(o, key, next) < 0)
                                return NULL;
                }
                o = next;
                path = dot + 1;
        }
        if (!o || strlen(path) >= key_size)
                return NULL;
        strcpy(key, path);
        return o;
}

static void put(json_object *root, StatusField f, StatusType type, json_object *v)
{
        char key[64];
        json_object *parent;

        assert(f < _SF_MAX && status_fields[f].type == type);
        parent = v ? parent_of(root, status_fields[f].path, true, key, sizeof(key)) : NULL;
        if (!parent || json_object_object_add(parent, key, v) < 0)
                json_object_put(v);
}

void status_put_string(json_object *root, StatusField f, const char *v)
{
        put(root, f, STATUS_STRING, json_object_new_string(v ? v : ""));
}

void status_put_bool(json_object *root, StatusField f, bool v)
{
        put(root, f, STATUS_BOOL, json_object_new_boolean(v));
}

void status_put_uint(json_object *root, StatusField f, uint64_t v)
{
        put(root, f, STATUS_UINT, json_object_new_uint64(v));
}

void status_put_int(json_object *root, StatusField f, int64_t v)
{
        put(root, f, STATUS_INT, json_object_new_int64(v));
}

/* JSON has no Infinity or NaN; json-c would print them anyway. */
void status_put_double(json_object *root, StatusField f, double v)
{
        put(root, f, STATUS_DOUBLE, json_object_new_double(isfinite(v) ? v : 0));
}

void status_put_strings_add(json_object *root, StatusField f, const char *v)
{
        json_object *a = status_get(root, f);

        assert(f < _SF_MAX && status_fields[f].type == STATUS_STRINGS);
        if (!a) {
                a = json_object_new_array();
                put(root, f, STATUS_STRINGS, a);
                a = status_get(root, f);
        }
        if (a && v)
                json_object_array_add(a, json_object_new_string(v));
}

json_object *status_get(json_object *root, StatusField f)
{
        static const json_type want[] = {
                [STATUS_STRING] = json_type_string, [STATUS_BOOL] = json_type_boolean,
                [STATUS_UINT] = json_type_int, [STATUS_INT] = json_type_int,
                [STATUS_DOUBLE] = json_type_double, [STATUS_STRINGS] = json_type_array,
        };
        json_object *parent, *v;
        char key[64];

        if (!root || f >= _SF_MAX)
                return NULL;
        parent = parent_of(root, status_fields[f].path, false, key, sizeof(key));
        if (!parent || !json_object_object_get_ex(parent, key, &v))
                return NULL;
        /* A double that happens to be whole may come back as an int. */
        if (status_fields[f].type == STATUS_DOUBLE && json_object_is_type(v, json_type_int))
                return v;
        return json_object_is_type(v, want[status_fields[f].type]) ? v : NULL;
}

const char *status_get_string(json_object *root, StatusField f, const char *fallback)
{
        json_object *v = status_get(root, f);

        return v ? json_object_get_string(v) : fallback;
}

bool status_get_bool(json_object *root, StatusField f)
{
        json_object *v = status_get(root, f);

        return v && json_object_get_boolean(v);
}

uint64_t status_get_uint(json_object *root, StatusField f)
{
        json_object *v = status_get(root, f);

        return v ? json_object_get_uint64(v) : 0;
}

int64_t status_get_int(json_object *root, StatusField f)
{
        json_object *v = status_get(root, f);

        return v ? json_object_get_int64(v) : 0;
}

double status_get_double(json_object *root, StatusField f)
{
        json_object *v = status_get(root, f);

        return v ? json_object_get_double(v) : 0.0;
}
