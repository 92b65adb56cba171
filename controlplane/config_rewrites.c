/* The "rewrites" section: names answered NXDOMAIN, exactly ("match":
 * "ads.example") or every name below a suffix ("*.ads.example"). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_loader.h"

/* rewrites[index], the path at its index. */
static void load_rewrite(struct loader *ld, struct json_object *obj, size_t index, size_t offset)
{
    struct config *cfg = ld->cfg;
    size_t errors = ld->diags->errors;
    struct config_rewrite w;
    memset(&w, 0, sizeof(w));
    (void)index;
    (void)offset;

    if (json_object_get_type(obj) != json_type_object) {
        loader_report_type(ld, obj, "an object");
        return;
    }
    loader_check_object(ld, obj, CONFIG_REWRITE_KEYS, COUNT(CONFIG_REWRITE_KEYS));

    const char *s;
    size_t n;
    char q[QUOTE_CAP];
    int rc = loader_read_string_pushed(ld, obj, "match", true, &s, &n);
    if (rc == 1) {
        const char *name = s;
        if (n >= 2 && s[0] == '*' && s[1] == '.') {
            w.below = true;
            name = s + 2;
        }
        if (strcmp(s, "*") == 0 || strcmp(s, "*.") == 0)
            loader_report(ld, CONFIG_ERROR, false,
                          "%s would block every name; give a suffix such as \"*.ads.example.com\"",
                          quote_text(q, s, n));
        else if (strchr(name, '*'))
            loader_report(ld, CONFIG_ERROR, false,
                          "%s: '*' is only allowed as a whole first label (\"*.ads.example.com\" "
                          "blocks every name below ads.example.com)",
                          quote_text(q, s, n));
        else if (loader_name_from_text(ld, name, w.name, &w.name_len, false) == 0 && w.below &&
                 w.name_len == 1)
            loader_report(ld, CONFIG_ERROR, false,
                          "%s would block every name; give a suffix such as \"*.ads.example.com\"",
                          quote_text(q, s, n));
    }
    if (rc != 0)
        loader_pop(ld);
    else
        loader_report_missing(ld, "match");

    rc = loader_read_string_pushed(ld, obj, "action", true, &s, &n);
    if (rc == 1 && strcasecmp(s, "nxdomain") != 0)
        loader_report(ld, CONFIG_ERROR, false, "action %s is not supported: only \"nxdomain\" is",
                      quote_text(q, s, n));
    if (rc != 0)
        loader_pop(ld);
    else
        loader_report_missing(ld, "action");

    rc = loader_read_string_pushed(ld, obj, "comment", false, &s, &n);
    if (rc != 0)
        loader_pop(ld);
    if (ld->diags->errors != errors)
        return;
    if (cfg->rewrite_count == ld->rewrite_capacity) {
        size_t capacity = ld->rewrite_capacity ? ld->rewrite_capacity * 2 : 16;
        struct config_rewrite *more = realloc(cfg->rewrites, capacity * sizeof(*more));
        if (!more) {
            loader_out_of_memory(ld);
            return;
        }
        cfg->rewrites = more;
        ld->rewrite_capacity = capacity;
    }
    cfg->rewrites[cfg->rewrite_count++] = w;
}

void config_rewrites_load(struct loader *ld, struct json_object *rewrites)
{
    /* an array comes through config_rewrites_load_text */
    loader_report_type(ld, rewrites, "an array of rewrite objects");
}

void config_rewrites_load_text(struct loader *ld)
{
    loader_array_read(ld, &ld->rewrites_text, load_rewrite);
}
