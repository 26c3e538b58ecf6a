/*
 * rules_names.h - the names the rule-set document gives a condition's facts
 * and operators ("purchase.subtotal", ">="), each fact's value type, and
 * the birthday windows ("week"):
 * what the parser and the renderer (rules_render.c) share, so that a
 * document reads back as it was written.  The fact and operator names are
 * defined with the condition parser (rules_conditions.c), the birthday
 * windows with the section parsers (rules_json.c).
 * Private to src/api/rules_conditions.c, rules_json.c and rules_render.c.
 */
#ifndef LY_API_RULES_NAMES_H
#define LY_API_RULES_NAMES_H

#include "rules/rules.h"

enum fact_type { FT_INT, FT_BOOL, FT_STRING, FT_LIST };

/* A fact's document name (static) and the type of its values. */
struct fact_name {
    const char *name;
    enum fact_type type;
};

/* Indexed by enum rules_fact and enum rules_op. */
extern const struct fact_name rj_facts[FACT__COUNT];
extern const char *const rj_op_names[OP_CONTAINS + 1];
#define NOPS ((int)(sizeof(rj_op_names) / sizeof(rj_op_names[0])))

/* Indexed by enum rules_birthday_window. */
extern const char *const rj_birthday_windows[BIRTHDAY_MONTH + 1];

#endif
