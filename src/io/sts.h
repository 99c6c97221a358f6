/* -Darn / --role-arn: trading the credentials found for a role's temporary ones. */
#ifndef MLIC_IO_STS_H
#define MLIC_IO_STS_H

#include "io/service.h"
#include "mlic.h"

/* An AWS role ("arn:aws:iam::ACCOUNT:role/NAME", any AWS partition): STS AssumeRole, signed
 * with s3's credentials, at AWS_ENDPOINT_URL_STS, else the s3 endpoint when one is configured
 * (local S3 servers such as MinIO and moto serve STS there), else sts.REGION.amazonaws.com; s3's
 * credentials become the role's. An Alibaba RAM role ("acs:ram::ACCOUNT:role/NAME") is refused:
 * Alibaba's STS signs differently and mlic has no tested implementation of it; the message
 * names the session-token variables to use instead. */
mlic_status mlic_sts_assume_role(mlic_service *s3, mlic_service *oss, const char *role_arn);

#endif
