/* The answer of an HTTP/1.0 server, read from a buffer that is not
 * NUL-terminated: every scan is bounded by the length (the recv buffer is
 * full to its last octet when an answer fills it exactly). */
#include "http_response.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where the header block ends (just past the empty line), or 0 when it has
 * not all arrived. Bare LF line ends are accepted (RFC 9112 §2.2). */
static size_t header_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

struct head {
    int status;
    bool has_length;
    size_t length;
    bool chunked;
};

/* RFC 9112 §4: HTTP-version SP 3DIGIT, then SP or the line's end. */
static bool status_line_parse(const char *buf, size_t len, int *status)
{
    if (len < 12 || memcmp(buf, "HTTP/", 5) != 0 || !is_digit(buf[5]) || buf[6] != '.' ||
        !is_digit(buf[7]) || buf[8] != ' ' || !is_digit(buf[9]) || !is_digit(buf[10]) ||
        !is_digit(buf[11]))
        return false;
    if (len > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n')
        return false;
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    return *status >= 100 && *status <= 599;
}

/* Content-Length's value on one header line [value, eol): digits between
 * optional blanks (RFC 9110 §8.6, §5.5). */
static bool content_length_parse(const char *value, const char *eol, size_t *length)
{
    while (value < eol && (*value == ' ' || *value == '\t'))
        value++;
    if (value == eol || !is_digit(*value))
        return false;
    size_t n = 0;
    for (; value < eol && is_digit(*value); value++) {
        size_t digit = (size_t)(*value - '0');
        n = n > (SIZE_MAX - digit) / 10 ? SIZE_MAX : n * 10 + digit;
    }
    while (value < eol && (*value == ' ' || *value == '\t' || *value == '\r'))
        value++;
    if (value != eol)
        return false;
    *length = n;
    return true;
}

/* The status line and the two headers we need (RFC 9112 §4, §6), in
 * buf[0..len), the header block. */
static int head_parse(const char *buf, size_t len, struct head *head, char *err, size_t err_len)
{
    *head = (struct head){0};
    if (!status_line_parse(buf, len, &head->status)) {
        snprintf(err, err_len, "the answer is not HTTP (wrong port?)");
        return -1;
    }
    static const char content_length[] = "content-length:";
    static const char transfer_encoding[] = "transfer-encoding:";
    const char *end = buf + len;
    const char *line = memchr(buf, '\n', len);
    while (line != NULL && ++line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (eol == NULL)
            break;
        size_t n = (size_t)(eol - line);
        if (n > sizeof(content_length) - 1 &&
            strncasecmp(line, content_length, sizeof(content_length) - 1) == 0) {
            if (!content_length_parse(line + sizeof(content_length) - 1, eol, &head->length)) {
                snprintf(err, err_len, "the answer has a malformed Content-Length");
                return -1;
            }
            head->has_length = true;
        } else if (n > sizeof(transfer_encoding) - 1 &&
                   strncasecmp(line, transfer_encoding, sizeof(transfer_encoding) - 1) == 0) {
            head->chunked = true;
        }
        line = eol;
    }
    if (head->chunked) {
        snprintf(err, err_len, "the answer uses a transfer coding, which HTTP/1.0 does not allow");
        return -1;
    }
    if (head->has_length && head->length > HTTP_RESPONSE_MAX) {
        snprintf(err, err_len, "the answer is larger than %u octets", HTTP_RESPONSE_MAX);
        return -1;
    }
    return 0;
}

enum http_parse_result http_response_parse(const char *buf, size_t len, bool eof,
                                           struct http_response *out, char *err, size_t err_len)
{
    *out = (struct http_response){0};
    /* Say so at once when something else listens there (a DNS port, say). */
    if (len > 0 && (len >= 5 || eof) && memcmp(buf, "HTTP/", len < 5 ? len : 5) != 0) {
        snprintf(err, err_len, "the answer is not HTTP (wrong port?)");
        return HTTP_PARSE_ERROR;
    }
    size_t body_at = header_end(buf, len);
    if (body_at == 0) {
        if (eof) {
            snprintf(err, err_len,
                     len == 0 ? "the connection closed without an answer"
                              : "the connection closed in the middle of the answer");
            return HTTP_PARSE_ERROR;
        }
        if (len > HTTP_RESPONSE_MAX) {
            snprintf(err, err_len, "the answer is larger than %u octets", HTTP_RESPONSE_MAX);
            return HTTP_PARSE_ERROR;
        }
        return HTTP_PARSE_MORE;
    }
    struct head head;
    if (head_parse(buf, body_at, &head, err, err_len) < 0)
        return HTTP_PARSE_ERROR;
    size_t have = len - body_at;
    size_t body_len;
    if (head.has_length && have >= head.length) {
        body_len = head.length;
    } else if (!eof) {
        if (have > HTTP_RESPONSE_MAX) {
            snprintf(err, err_len, "the answer is larger than %u octets", HTTP_RESPONSE_MAX);
            return HTTP_PARSE_ERROR;
        }
        return HTTP_PARSE_MORE;
    } else if (head.has_length) {
        snprintf(err, err_len, "the connection closed in the middle of the answer");
        return HTTP_PARSE_ERROR;
    } else {
        body_len = have;
    }
    out->body = malloc(body_len + 1);
    if (out->body == NULL) {
        snprintf(err, err_len, "out of memory");
        return HTTP_PARSE_ERROR;
    }
    memcpy(out->body, buf + body_at, body_len);
    out->body[body_len] = '\0';
    out->body_len = body_len;
    out->status = head.status;
    return HTTP_PARSE_DONE;
}

void http_response_free(struct http_response *response)
{
    free(response->body);
    *response = (struct http_response){0};
}
