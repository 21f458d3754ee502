package main

import (
	"strconv"

	"github.com/gatewarden/gatewarden/filter/abi"
)

// statusTitles are the problem+json titles of the statuses the filter sends.
var statusTitles = map[int]string{
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	500: "Internal Server Error",
	503: "Service Unavailable",
}

// sendProblem answers the request itself: an RFC 6750 challenge for 401/403 and an RFC 7807
// application/problem+json body with a stable reason. errCode is the RFC 6750 error code
// ("invalid_token", "insufficient_scope", "invalid_request") or "" when the request had no
// token. Reasons are fixed identifiers from jwt.Reason or the filter, never token contents.
func sendProblem(h abi.Host, realm string, status int, errCode, reason, requestID string) {
	body := `{"type":"about:blank","title":"` + statusTitles[status] + `","status":` + strconv.Itoa(status) +
		`,"reason":"` + reason + `"`
	if errCode != "" {
		body += `,"error":"` + errCode + `"`
	}
	if safeID(requestID) {
		body += `,"request_id":"` + requestID + `"`
	}
	body += "}\n"
	headers := []abi.Header{
		{Key: "content-type", Value: "application/problem+json"},
		{Key: "cache-control", Value: "no-store"},
	}
	if status == 401 || status == 403 {
		challenge := `Bearer realm="` + realm + `"`
		if errCode != "" {
			challenge += `, error="` + errCode + `", error_description="` + reason + `"`
		}
		headers = append(headers, abi.Header{Key: "www-authenticate", Value: challenge})
	}
	_ = h.SendLocalResponse(status, "gatewarden_"+reason, []byte(body), headers)
}

// safeID reports whether a request id can be echoed verbatim: 1 to 128 of [A-Za-z0-9._-].
func safeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
