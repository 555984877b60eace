//! Mailbox command naming and completion checks shared by the bootstrap
//! mailbox and the MQ (sli4.md §2.6, §3.1, §3.2).
//!
//! A command is checked in the drivers' order: MCQE status, then the MQE
//! status, then for an embedded SLI_CONFIG the response header status. The
//! error names the command and both status values.

use zerocopy::FromBytes;

use super::error::HbaError;
use crate::sli4::mbox::{mbx_cmd, mbx_status, Mcqe, Mqe};
use crate::sli4::sli_config::{
    cfg_additional_status, common_op, fc_op, subsystem, CfgResponseHeader, SliConfig,
};

/// The command's name, for messages.
pub fn command_name(mqe: &Mqe) -> &'static str {
    match mqe.command() as u8 {
        mbx_cmd::INIT_LINK => "INIT_LINK",
        mbx_cmd::DOWN_LINK => "DOWN_LINK",
        mbx_cmd::READ_CONFIG => "READ_CONFIG",
        mbx_cmd::READ_REV => "READ_REV",
        mbx_cmd::UNREG_RPI => "UNREG_RPI",
        mbx_cmd::READ_SPARM64 => "READ_SPARM64",
        mbx_cmd::REG_RPI => "REG_RPI",
        mbx_cmd::READ_TOPOLOGY => "READ_TOPOLOGY",
        mbx_cmd::REQUEST_FEATURES => "REQUEST_FEATURES",
        mbx_cmd::REG_VFI => "REG_VFI",
        mbx_cmd::REG_FCFI => "REG_FCFI",
        mbx_cmd::UNREG_VFI => "UNREG_VFI",
        mbx_cmd::UNREG_FCFI => "UNREG_FCFI",
        mbx_cmd::INIT_VFI => "INIT_VFI",
        mbx_cmd::SLI_CONFIG => sli_config_name(mqe),
        _ => "mailbox command",
    }
}

fn sli_config_name(mqe: &Mqe) -> &'static str {
    let c = SliConfig::from_mqe(mqe);
    if !c.is_embedded() {
        return "SLI_CONFIG (non-embedded, e.g. FCOE_POST_SGL_PAGES)";
    }
    let (h, _) = c.request();
    match (h.subsystem() as u8, h.opcode() as u8) {
        (subsystem::COMMON, common_op::CREATE_CQ) => "COMMON_CREATE_CQ",
        (subsystem::COMMON, common_op::CREATE_EQ) => "COMMON_CREATE_EQ",
        (subsystem::COMMON, common_op::CREATE_MQ_EXT) => "COMMON_CREATE_MQ_EXT",
        (subsystem::COMMON, common_op::DESTROY_MQ) => "COMMON_DESTROY_MQ",
        (subsystem::COMMON, common_op::DESTROY_CQ) => "COMMON_DESTROY_CQ",
        (subsystem::COMMON, common_op::DESTROY_EQ) => "COMMON_DESTROY_EQ",
        (subsystem::COMMON, common_op::GET_SLI4_PARAMETERS) => "COMMON_GET_SLI4_PARAMETERS",
        (subsystem::FC, fc_op::WQ_CREATE) => "FCOE_WQ_CREATE",
        (subsystem::FC, fc_op::WQ_DESTROY) => "FCOE_WQ_DESTROY",
        (subsystem::FC, fc_op::RQ_CREATE) => "FCOE_RQ_CREATE",
        (subsystem::FC, fc_op::RQ_DESTROY) => "FCOE_RQ_DESTROY",
        (subsystem::FC, fc_op::POST_SGL_PAGES) => "FCOE_POST_SGL_PAGES",
        _ => "SLI_CONFIG",
    }
}

fn mqe_status_meaning(status: u16) -> Option<&'static str> {
    Some(match status {
        mbx_status::FAILURE => "failure",
        mbx_status::RPI_REGISTERED => "RPI already registered",
        mbx_status::UNSUPPORTED_FEATURE => "unsupported feature",
        mbx_status::INVALID_RPI => "invalid RPI",
        mbx_status::INVALID_VPI => "invalid VPI",
        mbx_status::RPI_CONFLICT => "RPI conflict",
        mbx_status::RPI_NOT_REGISTERED => "RPI not registered",
        mbx_status::VFI_IN_USE => "VFI in use",
        mbx_status::ILLEGAL_SIZE => "illegal size",
        _ => return None,
    })
}

fn cfg_status_meaning(status: u8, additional: u8) -> Option<&'static str> {
    Some(match (status, additional) {
        (_, cfg_additional_status::INVALID_OPCODE) => "invalid opcode",
        (_, cfg_additional_status::CMD_NOT_SUPPORTED) => "command not supported",
        (_, cfg_additional_status::FEATURE_NOT_SUPPORTED) => "feature not supported",
        (1, _) => "failed",
        (2, _) => "illegal request",
        (3, _) => "illegal field",
        (4, _) => "insufficient buffer",
        _ => return None,
    })
}

/// Checks a completed command.
pub fn check_completion(
    device: &str,
    command: &'static str,
    mcqe: &Mcqe,
    rsp: &Mqe,
) -> Result<(), HbaError> {
    let err = |status: u32, additional: u32, detail| HbaError::Mailbox {
        device: device.to_owned(),
        command,
        status,
        additional,
        detail,
    };
    if mcqe.completion_status() != 0 {
        let st = mcqe.completion_status();
        return Err(err(
            st,
            mcqe.extended_status(),
            mqe_status_meaning(st as u16),
        ));
    }
    if rsp.status() != 0 {
        let st = rsp.status();
        return Err(err(st, 0, mqe_status_meaning(st as u16)));
    }
    if rsp.command() as u8 == mbx_cmd::SLI_CONFIG {
        let c = SliConfig::from_mqe(rsp);
        if c.is_embedded() {
            let (h, _) = c.response();
            if h.status() != 0 {
                return Err(err(
                    h.status(),
                    h.additional_status(),
                    cfg_status_meaning(h.status() as u8, h.additional_status() as u8),
                ));
            }
        }
    }
    Ok(())
}

/// Checks the response header at the start of a non-embedded buffer.
pub fn check_external_header(
    device: &str,
    command: &'static str,
    buf: &[u8],
) -> Result<(), HbaError> {
    let h = CfgResponseHeader::read_from_prefix(buf)
        .map(|(h, _)| h)
        .unwrap_or_default();
    if h.status() != 0 {
        return Err(HbaError::Mailbox {
            device: device.to_owned(),
            command,
            status: h.status(),
            additional: h.additional_status(),
            detail: cfg_status_meaning(h.status() as u8, h.additional_status() as u8),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli4::cmds::queue_destroy::{DestroyQueue, QueueKind};
    use crate::sli4::cmds::read_config::ReadConfig;
    use crate::sli4::sli_config::CfgResponseHeader;

    #[test]
    fn names_and_status_order() {
        let rc = ReadConfig::new().to_mqe();
        assert_eq!(command_name(&rc), "READ_CONFIG");
        let d = DestroyQueue::mqe(QueueKind::Wq, 3);
        assert_eq!(command_name(&d), "FCOE_WQ_DESTROY");
        let ok = Mcqe::completion(0, 0);
        assert!(check_completion("dev", "READ_CONFIG", &ok, &rc).is_ok());

        let mut bad = rc;
        bad.set_status(mbx_status::VFI_IN_USE.into());
        let e = check_completion("dev", "REG_VFI", &ok, &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("REG_VFI") && e.contains("0x9f02") && e.contains("VFI in use"),
            "{e}"
        );

        let e = check_completion("dev", "X", &Mcqe::completion(1, 0x42), &rc).unwrap_err();
        assert!(e.to_string().contains("additional status 0x0042"), "{e}");

        let mut c = SliConfig::from_mqe(&d);
        let mut h = CfgResponseHeader::default();
        h.set_status(2);
        h.set_additional_status(0x1E);
        c.set_response_header(&h);
        let e = check_completion("dev", "FCOE_WQ_DESTROY", &ok, &c.to_mqe()).unwrap_err();
        assert!(e.to_string().contains("invalid opcode"), "{e}");
    }
}
