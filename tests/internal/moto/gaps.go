package moto

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

// gapFiller stands in front of moto_server and answers the few calls moto
// 5.2.1 does not have, which the kill switch makes on every trip; every
// other request passes through unchanged.
//
// It is not an emulator: it holds no state. IAM's service-specific
// credentials (Bedrock API keys and the like) have no API in moto
// (moto/iam/responses.py), so nothing in moto can create one, and the true
// answer for such an account is the one given here: no credentials, and
// NoSuchEntity for any one named. Without it moto answers HTTP 500, which
// the SDK retries and the switch rightly reports as an unswept account.
// How the kind treats real credentials is tested over a fake in
// internal/resources.
func gapFiller(upstream *url.URL) http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && signedFor(r, "iam") &&
			strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			if answer, ok := iamGaps[form.Get("Action")]; ok {
				answer(w, form)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})
}

// signedFor says whether r's SigV4 scope names service.
func signedFor(r *http.Request, service string) bool {
	return strings.Contains(r.Header.Get("Authorization"), "/"+service+"/aws4_request")
}

const iamNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"

// iamGaps are the IAM query-protocol actions moto lacks, answered in IAM's
// own XML shapes (the SDK's awsAwsquery deserializers read them).
var iamGaps = map[string]func(http.ResponseWriter, url.Values){
	"ListServiceSpecificCredentials": func(w http.ResponseWriter, _ url.Values) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<ListServiceSpecificCredentialsResponse xmlns="%s"><ListServiceSpecificCredentialsResult>`+
			`<ServiceSpecificCredentials/><IsTruncated>false</IsTruncated></ListServiceSpecificCredentialsResult>`+
			`<ResponseMetadata><RequestId>moto-gap-0001</RequestId></ResponseMetadata></ListServiceSpecificCredentialsResponse>`, iamNamespace)
	},
	"UpdateServiceSpecificCredential": func(w http.ResponseWriter, form url.Values) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>NoSuchEntity</Code>`+
			`<Message>The service-specific credential %s cannot be found.</Message></Error>`+
			`<RequestId>moto-gap-0002</RequestId></ErrorResponse>`, iamNamespace, xmlText(form.Get("ServiceSpecificCredentialId")))
	},
}

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
