/* The built-in regulatory presets: each alarm's numbers come from the source cited at its preset;
 * docs/presets.md explains how each was derived and which sources could be checked. */
#include "presets.h"

#include <string.h>

#include "mkt.h"
#include "reading.h"

#define MINUTE_MS (60 * 1000LL)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* Continuous threshold alarms clear 0.3 °C back inside the limit so a probe hovering at the limit
 * does not raise and clear over and over; budgets and MKT have no hysteresis. Presets that copy a
 * device's behaviour (WHO shipping indicators) use 0 like the device. */
#define HYSTERESIS_C 0.3

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* CDC Vaccine Storage and Handling Toolkit: what to do after any temperature excursion. */
#define CDC_FRIDGE_ACTION                                                                          \
    "Mark the vaccines DO NOT USE and call the manufacturer or your immunization program "         \
    "before use or discard. Meanwhile keep them refrigerated at 2–8 °C."
#define CDC_FREEZER_ACTION                                                                         \
    "Mark the vaccines DO NOT USE and call the manufacturer or your immunization program "         \
    "before use or discard. Meanwhile keep them frozen between −50 °C and −15 °C."

/* CDC Vaccine Storage and Handling Toolkit, refrigerator: 2 °C to 8 °C (36 °F to 46 °F); any
 * reading outside the range is a temperature excursion. The probes CDC asks for sit in buffered
 * material (glycol, glass beads, sand, Teflon) and follow the vaccine, not the air, so a reading
 * out of range needs no delay to be believed. */
static const struct alarm_def cdc_fridge[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 8.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine refrigerator is above 8 °C (46 °F), outside the CDC storage range "
                   "of 2–8 °C: a temperature excursion.",
        .action = CDC_FRIDGE_ACTION,
    },
    {
        .id = "freeze",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .limit = 2.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine refrigerator is below 2 °C (36 °F), outside the CDC range of "
                   "2–8 °C. Freezing destroys many refrigerated vaccines, and they may look "
                   "unchanged.",
        .action = CDC_FRIDGE_ACTION,
    },
};

/* CDC Vaccine Storage and Handling Toolkit, freezer: −50 °C to −15 °C (−58 °F to +5 °F); any
 * reading outside the range is an excursion (buffered probes, as for the refrigerator). */
static const struct alarm_def cdc_freezer[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = -15.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine freezer is warmer than −15 °C (+5 °F), outside the CDC freezer "
                   "range of −50 °C to −15 °C: a temperature excursion.",
        .action = CDC_FREEZER_ACTION,
    },
    {
        .id = "cold",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .limit = -50.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine freezer is colder than −50 °C (−58 °F), outside the CDC freezer "
                   "range of −50 °C to −15 °C: a temperature excursion.",
        .action = CDC_FREEZER_ACTION,
    },
};

/* WHO PQS E006/TR06, 30-day temperature recorders (30-DTR) for vaccine refrigerators, the alarms
 * as such devices implement them: high alarm above +8 °C for 10 hours without a break, low
 * alarm at or below −0.5 °C for 60 minutes without a break. */
static const struct alarm_def who_30dtr[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 8.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 10 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine refrigerator has been above +8 °C for 10 hours without a break: "
                   "the high alarm of a WHO 30-day temperature recorder.",
        .action = "Do not use the vaccines until checked: read their vaccine vial monitors, keep "
                  "them at +2 to +8 °C, record the alarm and report it to your supervisor.",
    },
    {
        .id = "freeze",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_BELOW,
        .limit = -0.5,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 60 * MINUTE_MS,
        .severity = ALARM_CRITICAL,
        .message = "The vaccine refrigerator has been at or below −0.5 °C for 60 minutes without "
                   "a break: freeze-sensitive vaccines may be damaged.",
        .action = "Do not use freeze-sensitive vaccines until checked (shake test): keep them at "
                  "+2 to +8 °C, record the alarm and report it to your supervisor.",
    },
};

/* USP <659> Packaging and Storage Requirements, controlled cold temperature: 2 °C to 8 °C.
 * USP <1079.2> mean kinetic temperature, evaluated over 24 hours for CCT, not above 8 °C. */
static const struct alarm_def usp_cct[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 8.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The product is above 8 °C, outside the USP controlled cold temperature range "
                   "of 2–8 °C.",
        .action = "Keep the product at 2–8 °C, set it aside and record the excursion; ask the "
                  "manufacturer or your quality unit before use or discard.",
    },
    {
        .id = "freeze",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .limit = 2.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The product is below 2 °C, outside the USP controlled cold temperature range "
                   "of 2–8 °C; freezing can damage it.",
        .action = "Keep the product at 2–8 °C and away from freezing, set it aside and record the "
                  "excursion; ask the manufacturer or your quality unit before use or discard.",
    },
    {
        .id = "mkt",
        .kind = ALARM_KIND_MKT,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 8.0,
        .hysteresis = 0.0,
        .window_ms = 24 * HOUR_MS,
        .delta_h_j_mol = MKT_DELTA_H_DEFAULT_J_MOL,
        .severity = ALARM_CRITICAL,
        .message = "The mean kinetic temperature of the last 24 hours is above 8 °C, the USP "
                   "limit for controlled cold temperature.",
        .action = "Keep the product at 2–8 °C, set it aside and record the excursion with its "
                  "MKT; ask the manufacturer or your quality unit whether it may still be used.",
    },
};

/* USP <659>, controlled room temperature: 20 °C to 25 °C, excursions between 15 °C and 30 °C
 * allowed, spikes up to 40 °C for no more than 24 hours, and never above 40 °C unless the
 * manufacturer allows it. USP <1079.2>: MKT over 30 days not above 25 °C. */
static const struct alarm_def usp_crt[] = {
    {
        .id = "cold",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .limit = 15.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The product is below 15 °C, colder than the excursions USP allows for "
                   "controlled room temperature (15–30 °C).",
        .action = "Bring the product back to 20–25 °C, set it aside and record the excursion; ask "
                  "the manufacturer or your quality unit before use or discard.",
    },
    {
        .id = "warm",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 30.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 24 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The product has been above 30 °C for 24 hours; USP allows spikes above 30 °C "
                   "for controlled room temperature for no more than 24 hours.",
        .action = "Bring the product back to 20–25 °C, set it aside and record the excursion; ask "
                  "the manufacturer or your quality unit before use or discard.",
    },
    {
        .id = "hot",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 40.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The product is above 40 °C; USP allows no spike above 40 °C for controlled "
                   "room temperature unless the manufacturer does.",
        .action = "Get the product out of the heat and back to 20–25 °C now, set it aside and "
                  "record the excursion; ask the manufacturer or your quality unit before use.",
    },
    {
        .id = "mkt",
        .kind = ALARM_KIND_MKT,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = 25.0,
        .hysteresis = 0.0,
        .window_ms = 30 * DAY_MS,
        .delta_h_j_mol = MKT_DELTA_H_DEFAULT_J_MOL,
        .severity = ALARM_CRITICAL,
        .message = "The mean kinetic temperature of the last 30 days is above 25 °C, the USP "
                   "limit for controlled room temperature.",
        .action = "Set the product aside and record the excursion with its MKT; ask the "
                  "manufacturer or your quality unit whether it may still be used.",
    },
};

/* What a driver or receiver does after a shipping-indicator heat alarm: keep the cartons closed
 * and out of the heat, and report the alarm before anyone uses the vaccines. */
#define ESI_HEAT_ACTION                                                                            \
    "Get the cartons out of the heat and keep them closed. On arrival set the vaccines aside, do " \
    "not use them, and report the alarm to the shipper before any use."

/* WHO PQS E006/TR07, electronic shipping indicators, type 1 (DTP, DT, TT, Td, HepB, IPV, liquid
 * Hib and combinations): ≥ 45 °C single event 1 hour, ≥ 30 °C cumulative 10 hours, ≤ −0.5 °C
 * single event 1 hour. The limits belong to the excursion ("at or above"); no hysteresis, as in
 * the devices. */
static const struct alarm_def who_esi_type1[] = {
    {
        .id = "heat-45",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .limit = 45.0,
        .hysteresis = 0.0,
        .delay_ms = 1 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has been at or above 45 °C for 1 hour without a break: the "
                   "limit of a WHO type 1 shipping indicator.",
        .action = ESI_HEAT_ACTION,
    },
    {
        .id = "heat-30",
        .kind = ALARM_KIND_BUDGET,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .limit = 30.0,
        .hysteresis = 0.0,
        .budget_ms = 10 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has spent 10 hours in total at or above 30 °C: the cumulative "
                   "limit of a WHO type 1 shipping indicator.",
        .action = ESI_HEAT_ACTION,
    },
    {
        .id = "freeze",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_BELOW,
        .limit = -0.5,
        .hysteresis = 0.0,
        .delay_ms = 1 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has been at or below −0.5 °C for 1 hour without a break: its "
                   "freeze-sensitive vaccines may be damaged.",
        .action = "Keep the cartons away from ice and frozen packs. On arrival set the vaccines "
                  "aside, do not use them, and report the alarm to the shipper before any use.",
    },
};

/* WHO PQS E006/TR07, electronic shipping indicators, type 2 (OPV, freeze-dried BCG, measles, MR,
 * MMR, lyophilised Hib, yellow fever, meningitis): ≥ 45 °C single event 1 hour, ≥ 30 °C
 * cumulative 10 hours, ≥ 10 °C cumulative 20 hours. No freeze alarm: these vaccines are not
 * freeze-sensitive. */
static const struct alarm_def who_esi_type2[] = {
    {
        .id = "heat-45",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .limit = 45.0,
        .hysteresis = 0.0,
        .delay_ms = 1 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has been at or above 45 °C for 1 hour without a break: the "
                   "limit of a WHO type 2 shipping indicator.",
        .action = ESI_HEAT_ACTION,
    },
    {
        .id = "heat-30",
        .kind = ALARM_KIND_BUDGET,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .limit = 30.0,
        .hysteresis = 0.0,
        .budget_ms = 10 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has spent 10 hours in total at or above 30 °C: the cumulative "
                   "limit of a WHO type 2 shipping indicator.",
        .action = ESI_HEAT_ACTION,
    },
    {
        .id = "heat-10",
        .kind = ALARM_KIND_BUDGET,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .limit = 10.0,
        .hysteresis = 0.0,
        .budget_ms = 20 * HOUR_MS,
        .severity = ALARM_CRITICAL,
        .message = "The shipment has spent 20 hours in total at or above 10 °C: the cumulative "
                   "limit of a WHO type 2 shipping indicator.",
        .action = "Get the cartons back into the cold chain at +2 to +8 °C and keep them closed. "
                  "On arrival set the vaccines aside and report the alarm to the shipper before "
                  "any use.",
    },
};

/* Frozen goods, −25 °C to −15 °C: a common label range for frozen product. No single published
 * clause is cited for it (docs/presets.md); check it against the product's labelling. */
static const struct alarm_def frozen[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .limit = -15.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The frozen goods are warmer than −15 °C, outside their range of −25 °C to "
                   "−15 °C.",
        .action = "Keep the load closed and get it back to −25 °C to −15 °C at once; set it aside, "
                  "record the excursion and ask the manufacturer or your quality unit before use.",
    },
    {
        .id = "cold",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .limit = -25.0,
        .hysteresis = HYSTERESIS_C,
        .delay_ms = 0,
        .severity = ALARM_CRITICAL,
        .message = "The frozen goods are colder than −25 °C, outside their range of −25 °C to "
                   "−15 °C.",
        .action = "Check the freezer's set point and bring the goods back to −25 °C to −15 °C; "
                  "record the excursion and ask the manufacturer or your quality unit if it "
                  "matters.",
    },
};

static const struct rules_preset presets[] = {
    {
        .name = "cdc-vaccine-fridge",
        .description = "Vaccine refrigerator, 2–8 °C (36–46 °F): any reading outside is an "
                       "excursion.",
        .source = "CDC Vaccine Storage and Handling Toolkit: refrigerator 2 °C to 8 °C "
                  "(36 °F to 46 °F); temperature excursions.",
        .alarms = cdc_fridge,
        .alarm_count = ARRAY_SIZE(cdc_fridge),
    },
    {
        .name = "cdc-vaccine-freezer",
        .description = "Vaccine freezer, −50 °C to −15 °C (−58 °F to +5 °F): any reading outside "
                       "is an excursion.",
        .source = "CDC Vaccine Storage and Handling Toolkit: freezer −50 °C to −15 °C "
                  "(−58 °F to +5 °F); temperature excursions.",
        .alarms = cdc_freezer,
        .alarm_count = ARRAY_SIZE(cdc_freezer),
    },
    {
        .name = "who-30dtr",
        .description = "Vaccine refrigerator watched like a WHO 30-day temperature recorder: "
                       "> +8 °C for 10 h, ≤ −0.5 °C for 60 min.",
        .source = "WHO PQS E006/TR06, 30-day temperature recorders: high and low alarm settings.",
        .alarms = who_30dtr,
        .alarm_count = ARRAY_SIZE(who_30dtr),
    },
    {
        .name = "usp-cct",
        .description = "Controlled cold temperature, 2–8 °C, with a 24-hour MKT not above 8 °C.",
        .source = "USP <659> Packaging and Storage Requirements: controlled cold temperature; "
                  "USP <1079.2> mean kinetic temperature (24 h for CCT).",
        .alarms = usp_cct,
        .alarm_count = ARRAY_SIZE(usp_cct),
    },
    {
        .name = "usp-crt",
        .description = "Controlled room temperature, 20–25 °C: excursions 15–30 °C, spikes to "
                       "40 °C for at most 24 h, 30-day MKT not above 25 °C.",
        .source = "USP <659> Packaging and Storage Requirements: controlled room temperature; "
                  "USP <1079.2> mean kinetic temperature (30 days for CRT).",
        .alarms = usp_crt,
        .alarm_count = ARRAY_SIZE(usp_crt),
    },
    {
        .name = "who-esi-type1",
        .description = "International vaccine shipment, WHO type 1 shipping indicator "
                       "(freeze-sensitive vaccines).",
        .source = "WHO PQS E006/TR07, electronic shipping indicators: type 1 alarm settings.",
        .alarms = who_esi_type1,
        .alarm_count = ARRAY_SIZE(who_esi_type1),
    },
    {
        .name = "who-esi-type2",
        .description = "International vaccine shipment, WHO type 2 shipping indicator "
                       "(freeze-tolerant, heat-sensitive vaccines).",
        .source = "WHO PQS E006/TR07, electronic shipping indicators: type 2 alarm settings.",
        .alarms = who_esi_type2,
        .alarm_count = ARRAY_SIZE(who_esi_type2),
    },
    {
        .name = "frozen",
        .description = "Frozen goods, −25 °C to −15 °C: any reading outside is an excursion.",
        .source = "Common frozen-storage label range −25 °C to −15 °C; no single published "
                  "clause (see docs/presets.md).",
        .alarms = frozen,
        .alarm_count = ARRAY_SIZE(frozen),
    },
};

const struct rules_preset *presets_find(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(presets); i++) {
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    }
    return NULL;
}

size_t presets_count(void)
{
    return ARRAY_SIZE(presets);
}

const struct rules_preset *presets_at(size_t index)
{
    return index < ARRAY_SIZE(presets) ? &presets[index] : NULL;
}
