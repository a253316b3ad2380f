"""The init work of AWS's Python Secrets Manager rotation template
(SecretsManagerRotationTemplate/lambda_function.py): import boto3, create the Secrets Manager
client; then ask the runtime API for the first invocation, as the Python runtime would."""
import os
import http.client

import boto3

service_client = boto3.client("secretsmanager", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)

conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])
conn.request("GET", "/2018-06-01/runtime/invocation/next")
conn.getresponse().read()
