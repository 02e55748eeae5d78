/* Status codes, last error, version: the ABI machinery every subsystem relies on. */
#include "check.h"

static void version_macros_match_runtime(void) {
    CHECK(transom_version() == TRANSOM_VERSION);
    CHECK(TRANSOM_VERSION == TRANSOM_VERSION_MAJOR * 10000 + TRANSOM_VERSION_MINOR * 100 +
                                 TRANSOM_VERSION_PATCH);
    char expect[32];
    snprintf(expect, sizeof expect, "%d.%d.%d", TRANSOM_VERSION_MAJOR, TRANSOM_VERSION_MINOR,
             TRANSOM_VERSION_PATCH);
    CHECK(strcmp(expect, TRANSOM_VERSION_STRING) == 0);
}

static void status_strings_are_static_and_named(void) {
    CHECK(strncmp(transom_status_str(TRANSOM_OK), "TRANSOM_OK", 10) == 0);
    CHECK(strncmp(transom_status_str(TRANSOM_ERR_STALE_TOKEN), "TRANSOM_ERR_STALE_TOKEN", 23) == 0);
    CHECK(strcmp(transom_status_str(-12345), "unknown status") == 0);
    CHECK(TRANSOM_OK == 0 && TRANSOM_TIMEOUT > 0 && TRANSOM_ERR_NULL_ARGUMENT < 0);
}

static void last_error_reports_the_detail_of_the_last_failure(void) {
    size_t bytes = 0;
    CHECK_STATUS(transom_manager_required_bytes(1, 1, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    char buf[256];
    size_t len = 0;
    CHECK_OK(transom_last_error(buf, sizeof buf, &len));
    CHECK(strstr(buf, "out_bytes") != NULL);
    CHECK(len == strlen(buf));
    /* A success leaves the detail in place. */
    CHECK_OK(transom_manager_required_bytes(1, 1, &bytes));
    CHECK_OK(transom_last_error(buf, sizeof buf, &len));
    CHECK(strstr(buf, "out_bytes") != NULL);
    /* Size query, truncation, NULL out_len. */
    size_t need = 0;
    CHECK_STATUS(transom_last_error(NULL, 0, &need), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(need == len);
    char small[4];
    CHECK_STATUS(transom_last_error(small, sizeof small, &need), TRANSOM_ERR_BUFFER_TOO_SMALL);
    CHECK(small[3] == 0 && strlen(small) == 3);
    CHECK_STATUS(transom_last_error(buf, sizeof buf, NULL), TRANSOM_ERR_NULL_ARGUMENT);
    CHECK_STATUS(transom_last_error(NULL, 8, &need), TRANSOM_ERR_NULL_ARGUMENT);
}

int main(void) {
    RUN(version_macros_match_runtime);
    RUN(status_strings_are_static_and_named);
    RUN(last_error_reports_the_detail_of_the_last_failure);
    return 0;
}
